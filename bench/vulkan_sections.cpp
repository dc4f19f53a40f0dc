// Section 2 (Vulkan part): a pool hit against the pool with caching off and
// against raw driver calls, per size class, and a backend allocation (a
// segment: the cost of a pool miss) against the raw driver calls it makes,
// all in this process (which links no replacement malloc, so lavapipe's costs
// are its own).
#include "raw_vulkan.hpp"
#include "suite.hpp"
#include "timing.hpp"

#include <bufferpool/bufferpool.hpp>
#include <bufferpool/vulkan.hpp>

#include <exception>
#include <iomanip>
#include <ostream>
#include <stdexcept>
#include <string>

namespace bufferpool::bench {

void run_vulkan_allocation_section(const BenchOptions& options, Report& report) {
  std::ostream& out = *report.table;
  Json section = Json::object();
  try {
    RawVulkanDevice raw;
    std::shared_ptr<Backend> backend = make_vulkan_backend();
    BufferPool pool(backend);
    PoolConfig caching_off_config;
    caching_off_config.max_pool_size = 0;
    BufferPool caching_off(backend, caching_off_config);
    out << "\n2b. Allocation speed, Vulkan (" << backend->name()
        << "): ns per get + release (median of " << options.rounds()
        << " rounds); ratios = other / pool hit, per round, median\n";
    out << "   " << std::setw(9) << "size" << std::setw(10) << "pool hit" << std::setw(12)
        << "caching off" << std::setw(9) << "ratio" << std::setw(12) << "raw driver" << std::setw(9)
        << "ratio"
        << "\n";
    section["device"] = Json(backend->name());
    section["raw_device"] = Json(raw.name());
    Json rows = Json::array();
    double worst_raw_ratio = 1e300;
    std::size_t worst_size = 0;
    for (const std::size_t size : default_size_classes()) {
      pool.get_buffer(size).reset();
      Contest contest;
      const auto hit = contest.add([&pool, size] {
        BufferRef buffer = pool.get_buffer(size);
        keep(buffer);
      });
      const auto off = contest.add([&caching_off, size] {
        BufferRef buffer = caching_off.get_buffer(size);
        keep(buffer);
      });
      const auto driver = contest.add([&raw, size] { raw.create_and_destroy_buffer(size); });
      contest.run(options.rounds(), options.batch_ns());
      const double off_ratio = contest.median_ratio(off, hit);
      const double raw_ratio = contest.median_ratio(driver, hit);
      if (raw_ratio < worst_raw_ratio) {
        worst_raw_ratio = raw_ratio;
        worst_size = size;
      }
      out << "   " << std::setw(9) << format_size(size) << std::setw(10)
          << format_fixed(contest.median_ns(hit), 1) << std::setw(12)
          << format_fixed(contest.median_ns(off), 1) << std::setw(8) << format_fixed(off_ratio, 1)
          << "x" << std::setw(12) << format_fixed(contest.median_ns(driver), 1) << std::setw(8)
          << format_fixed(raw_ratio, 1) << "x\n";
      Json row = Json::object();
      row["size_bytes"] = Json(static_cast<std::uint64_t>(size));
      row["pool_hit_ns"] = Json(contest.median_ns(hit));
      row["caching_off_ns"] = Json(contest.median_ns(off));
      row["raw_driver_ns"] = Json(contest.median_ns(driver));
      row["caching_off_over_pool_hit"] = Json(off_ratio);
      row["raw_driver_over_pool_hit"] = Json(raw_ratio);
      rows.push_back(row);
    }
    section["classes"] = rows;
    report.check(
        {"Vulkan pool hit vs raw driver buffer, every size class", ">= 10x faster",
         "worst " + format_fixed(worst_raw_ratio, 1) + "x (at " + format_size(worst_size) + ")",
         worst_raw_ratio >= 10.0, ""});

    // A miss of the pool is one backend allocation: a segment, as large as
    // SegmentConfig's 2 MiB and 20 MiB by default. The backend adds its
    // bookkeeping (the live-allocation count, its segment records) to the
    // driver calls it makes, which are exactly what RawVulkanDevice makes:
    // vkCreateBuffer, requirements, vkAllocateMemory, bind, map, and back.
    // Small sizes are timed too: there the fixed bookkeeping weighs most.
    out << "\n2c. Backend allocation, Vulkan: ns per allocate + deallocate of one segment "
           "(median of "
        << options.rounds() << " rounds); ratio = backend / raw driver calls, per round, median\n";
    out << "   " << std::setw(9) << "size" << std::setw(10) << "backend" << std::setw(12)
        << "raw driver" << std::setw(9) << "ratio"
        << "\n";
    Json allocation_rows = Json::array();
    double worst_backend_ratio = 0.0;
    std::size_t worst_backend_size = 0;
    for (const std::size_t size :
         {std::size_t{256}, std::size_t{64} << 10, std::size_t{2} << 20, std::size_t{20} << 20}) {
      Contest contest;
      const auto ours = contest.add([&backend, size] {
        const Allocation allocation = backend->allocate(size);
        keep(allocation.handle);
        backend->deallocate(allocation);
      });
      const auto driver = contest.add([&raw, size] { raw.create_and_destroy_buffer(size); });
      contest.run(options.rounds(), options.batch_ns());
      const double ratio = contest.median_ratio(ours, driver);
      if (ratio > worst_backend_ratio) {
        worst_backend_ratio = ratio;
        worst_backend_size = size;
      }
      out << "   " << std::setw(9) << format_size(size) << std::setw(10)
          << format_fixed(contest.median_ns(ours), 1) << std::setw(12)
          << format_fixed(contest.median_ns(driver), 1) << std::setw(8) << format_fixed(ratio, 2)
          << "x\n";
      Json row = Json::object();
      row["size_bytes"] = Json(static_cast<std::uint64_t>(size));
      row["backend_ns"] = Json(contest.median_ns(ours));
      row["raw_driver_ns"] = Json(contest.median_ns(driver));
      row["backend_over_raw_driver"] = Json(ratio);
      allocation_rows.push_back(row);
    }
    section["backend_allocation"] = allocation_rows;
    report.check({"Vulkan backend allocation vs the raw driver calls it makes", "<= 1.1x",
                  "worst " + format_fixed(worst_backend_ratio, 2) + "x (at " +
                      format_size(worst_backend_size) + ")",
                  worst_backend_ratio <= 1.1, ""});
  } catch (const std::exception& error) {
    out << "\n2b. Allocation speed, Vulkan: skipped (" << error.what() << ")\n";
    section["error"] = Json(std::string(error.what()));
    report.check({"Vulkan pool hit vs raw driver buffer, every size class", ">= 10x faster",
                  "not measured: " + std::string(error.what()), false, ""});
  }
  report.json["vulkan_allocation"] = section;
}

}  // namespace bufferpool::bench
