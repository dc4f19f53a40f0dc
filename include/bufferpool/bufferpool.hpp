// The whole public API of bufferpool.
#pragma once

#include <bufferpool/autorelease.hpp>
#include <bufferpool/backend.hpp>
#include <bufferpool/backend_adaptors.hpp>
#include <bufferpool/buffer.hpp>
#include <bufferpool/clock.hpp>
#include <bufferpool/config.hpp>
#include <bufferpool/errors.hpp>
#include <bufferpool/metrics.hpp>
#include <bufferpool/pool.hpp>
