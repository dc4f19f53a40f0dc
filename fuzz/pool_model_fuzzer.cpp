// libFuzzer target: decodes the input into pool operations (gets of any size,
// copies, moves, increments and decrements, scopes, clock and device time,
// cleanup, clear, injected allocation and fill_zero faults, streams (open,
// requests for and releases to a stream, close with a device value), new
// configs with their segment sizes, zero_on_reuse, eviction policy and
// backend bounds) and
// checks the pool against the reference model after each one: every metric,
// every buffer's segment, offset and capacity, check_segments(), that no two
// buffers overlap. Built with ASan + UBSan by scripts/fuzz.sh; a divergence
// aborts with the operations that led to it. At exit it prints what it ran
// and which of the pool's paths the inputs reached.
#include "model_runner.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

bufferpool::model::RunStats total_stats;

void print_totals() {
  std::fprintf(stderr, "pool_model_fuzzer: %s\n", bufferpool::model::describe(total_stats).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  std::atexit(print_totals);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto failure = bufferpool::model::run_against_model({data, size}, &total_stats);
  if (failure) {
    std::fprintf(stderr, "pool_model_fuzzer: the pool and the model disagree: %s\n%s\n",
                 failure->c_str(), bufferpool::model::describe_format().c_str());
    std::abort();
  }
  return 0;
}
