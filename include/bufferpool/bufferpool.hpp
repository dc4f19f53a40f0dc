// The whole public API of the core library (CMake target
// bufferpool::bufferpool, which needs nothing but the C++ standard library
// and threads): the pool, its buffers and scopes, its configuration and
// metrics, the host backend and the backend adaptors, and the tools that
// observe a pool (events, snapshots, recording, replay, tuning, timelines).
//
// It leaves out, on purpose, the GPU side, which is the separate target
// bufferpool::vulkan (built where Vulkan and shaderc are found:
// BUFFERPOOL_WITH_VULKAN) so that a program using only the core needs none
// of their headers or libraries:
//  - <bufferpool/manager.hpp>: ComputeManager and the types of its calls
//    (manager_options.hpp, extent.hpp, dispatch_size.hpp, buffer_list.hpp,
//    push_constants.hpp, submission.hpp, sequence.hpp, performance_metrics.hpp,
//    builtin_shaders.hpp, shader_compile_error.hpp), which it includes;
//  - <bufferpool/vulkan.hpp>: the Vulkan backend and device choice;
//  - <bufferpool/vulkan_buffer_range.hpp>: a buffer's VkBuffer, offset and
//    range, which includes <vulkan/vulkan.h> itself.
#pragma once

#include <bufferpool/autorelease.hpp>
#include <bufferpool/backend.hpp>
#include <bufferpool/backend_adaptors.hpp>
#include <bufferpool/buffer.hpp>
#include <bufferpool/clock.hpp>
#include <bufferpool/config.hpp>
#include <bufferpool/errors.hpp>
#include <bufferpool/forwarding_backend.hpp>
#include <bufferpool/host_backend.hpp>
#include <bufferpool/live_buffer.hpp>
#include <bufferpool/memory_snapshot.hpp>
#include <bufferpool/memory_viz.hpp>
#include <bufferpool/metrics.hpp>
#include <bufferpool/pool.hpp>
#include <bufferpool/pool_events.hpp>
#include <bufferpool/replay.hpp>
#include <bufferpool/simulated_backend.hpp>
#include <bufferpool/stream.hpp>
#include <bufferpool/timeline.hpp>
#include <bufferpool/trace.hpp>
#include <bufferpool/tune.hpp>
