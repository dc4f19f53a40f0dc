// libFuzzer target: decodes the input into pool operations (gets of any size,
// copies, moves, increments and decrements, scopes, clock and device time,
// cleanup, clear, injected faults, new configs) and checks the pool against
// the reference model after each one. Built with ASan + UBSan by
// scripts/fuzz.sh; a divergence aborts with the operations that led to it.
#include "model_runner.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

bufferpool::model::RunStats total_stats;
std::size_t inputs_run = 0;

void print_totals() {
  std::fprintf(stderr,
               "pool_model_fuzzer: %zu inputs, %zu operations, %zu requests, %llu faults "
               "injected, %zu out-of-memory errors, %zu pools\n",
               inputs_run, total_stats.operations, total_stats.requests,
               static_cast<unsigned long long>(total_stats.faults_injected),
               total_stats.out_of_memory_errors, total_stats.pools_created);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  std::atexit(print_totals);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ++inputs_run;
  const auto failure = bufferpool::model::run_against_model({data, size}, &total_stats);
  if (failure) {
    std::fprintf(stderr, "pool_model_fuzzer: the pool and the model disagree: %s\n%s\n",
                 failure->c_str(), bufferpool::model::describe_format().c_str());
    std::abort();
  }
  return 0;
}
