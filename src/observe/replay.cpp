#include <bufferpool/buffer.hpp>
#include <bufferpool/clock.hpp>
#include <bufferpool/errors.hpp>
#include <bufferpool/memory_snapshot.hpp>
#include <bufferpool/pool.hpp>
#include <bufferpool/replay.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

namespace bufferpool {
namespace {

std::vector<SegmentFigures> figures_of(const MemorySnapshot& snapshot) {
  std::vector<SegmentFigures> segments;
  segments.reserve(snapshot.segments.size());
  for (const SnapshotSegment& segment : snapshot.segments) {
    SegmentFigures figures;
    figures.address = segment.address;
    figures.size_bytes = segment.size_bytes;
    figures.large = segment.large;
    for (const SnapshotBlock& block : segment.blocks) {
      switch (block.state) {
        case BlockState::live:
          figures.live_bytes += block.size_bytes;
          figures.requested_bytes += block.requested_bytes;
          ++figures.live_blocks;
          break;
        case BlockState::idle:
          figures.idle_bytes += block.size_bytes;
          ++figures.idle_blocks;
          break;
        case BlockState::pending:
          figures.pending_bytes += block.size_bytes;
          break;
        case BlockState::free:
          figures.free_bytes += block.size_bytes;
          ++figures.free_blocks;
          figures.largest_free_block_bytes =
              std::max(figures.largest_free_block_bytes, block.size_bytes);
          break;
      }
    }
    segments.push_back(figures);
  }
  return segments;
}

FragmentationSample sample_of(const PoolMetrics& metrics, std::uint64_t time_ns,
                              std::size_t events_replayed) {
  FragmentationSample sample;
  sample.time_ns = time_ns;
  sample.events_replayed = events_replayed;
  sample.bytes_held = metrics.current_bytes_allocated;
  sample.bytes_live = metrics.bytes_in_use;
  sample.bytes_idle = metrics.bytes_cached;
  sample.bytes_free_in_segments = metrics.bytes_free_in_segments;
  sample.largest_free_block_bytes = metrics.largest_free_block_bytes;
  sample.segments = metrics.segments;
  return sample;
}

/// Removes the replay's observers however the replay ends, so that none is
/// called by a pool it no longer watches.
class AttachedObservers {
 public:
  AttachedObservers(BufferPool& pool, const std::vector<std::shared_ptr<PoolObserver>>& observers)
      : pool_(pool) {
    for (const auto& observer : observers) {
      if (!observer) {
        throw ConfigError(
            "bufferpool: ReplayOptions::observers holds a null observer; pass observers made "
            "with std::make_shared, or leave the list out");
      }
      pool_.add_observer(observer);
      attached_.push_back(observer.get());
    }
  }
  ~AttachedObservers() {
    for (const PoolObserver* observer : attached_) pool_.remove_observer(*observer);
  }
  AttachedObservers(const AttachedObservers&) = delete;
  AttachedObservers& operator=(const AttachedObservers&) = delete;
  AttachedObservers(AttachedObservers&&) = delete;
  AttachedObservers& operator=(AttachedObservers&&) = delete;

 private:
  BufferPool& pool_;
  std::vector<const PoolObserver*> attached_;
};

}  // namespace

ReplayResult replay(const Trace& trace, PoolConfig config, const ReplayOptions& options) {
  auto clock = std::make_shared<ManualClock>();
  config.clock = clock;
  config.background_cleanup = false;
  config.trace_path.clear();
  config.record_from_environment = false;
  auto backend = std::make_shared<SimulatedBackend>(options.backend);

  ReplayResult result;
  result.trace = trace.name;
  result.peak_bytes_live = trace.peak_live_bytes;

  const std::size_t event_count = trace.events.size();
  // Every sample_stride-th event, and the last: at most
  // max_fragmentation_samples points.
  const std::size_t sample_stride =
      options.max_fragmentation_samples == 0
          ? 0
          : std::max<std::size_t>(1, (event_count + options.max_fragmentation_samples - 1) /
                                         options.max_fragmentation_samples);
  const std::size_t progress_stride = std::max<std::size_t>(1, event_count / 100);

  BufferPool pool(backend, std::move(config));
  {
    // Declared before the observers, so released after they are removed:
    // what the trace never freed shows in no timeline as freed.
    std::vector<BufferRef> buffers(trace.allocation_count);
    const AttachedObservers attached(pool, options.observers);
    std::size_t peak_seen_bytes = 0;
    for (std::size_t index = 0; index < event_count; ++index) {
      const TraceEvent& event = trace.events[index];
      clock->advance(std::chrono::nanoseconds{event.time_ns} - clock->now());
      switch (event.kind) {
        case TraceEvent::Kind::free:
          buffers[event.buffer_id].reset();
          break;
        case TraceEvent::Kind::allocate:
          ++result.requests;
          try {
            buffers[event.buffer_id] = pool.get_buffer(event.size_bytes);
          } catch (const OutOfMemoryError&) {
            ++result.failed_requests;
          }
          break;
        case TraceEvent::Kind::allocate_failure:
          // The recorded program got no buffer: one served here goes back
          // at once.
          ++result.requests;
          try {
            (void)pool.get_buffer(event.size_bytes);
          } catch (const OutOfMemoryError&) {
            ++result.failed_requests;
          }
          break;
      }
      if (options.snapshot_at_peak && event.kind != TraceEvent::Kind::free) {
        const std::size_t held_bytes = backend->live_bytes();
        if (held_bytes > peak_seen_bytes) {
          peak_seen_bytes = held_bytes;
          result.peak_time_ns = event.time_ns;
          result.segments_at_peak = figures_of(pool.snapshot());
        }
      }
      const bool last = index + 1 == event_count;
      if (sample_stride != 0 && ((index + 1) % sample_stride == 0 || last)) {
        result.fragmentation.push_back(sample_of(pool.metrics(), event.time_ns, index + 1));
      }
      if (options.progress && ((index + 1) % progress_stride == 0 || last)) {
        options.progress(index + 1, event_count);
      }
    }
    result.metrics = pool.metrics();
    if (options.snapshot_at_end) result.final_snapshot = pool.snapshot();
  }

  result.hits = result.metrics.hits;
  result.hit_rate = result.metrics.hit_rate();
  result.peak_bytes_held = backend->peak_live_bytes();
  result.overhead = result.peak_bytes_live == 0 ? 0.0
                                                : static_cast<double>(result.peak_bytes_held) /
                                                      static_cast<double>(result.peak_bytes_live);
  result.device_allocations = backend->allocations();
  result.peak_live_device_allocations = backend->peak_live_allocations();
  if (options.progress && event_count == 0) options.progress(0, 0);
  return result;
}

std::string ReplayResult::to_json() const {
  nlohmann::ordered_json json = {
      {"trace", trace},
      {"requests", requests},
      {"hits", hits},
      {"hit_rate", hit_rate},
      {"failed_requests", failed_requests},
      {"peak_bytes_held", peak_bytes_held},
      {"peak_bytes_live", peak_bytes_live},
      {"overhead", overhead},
      {"device_allocations", device_allocations},
      {"peak_live_device_allocations", peak_live_device_allocations},
      {"metrics", nlohmann::ordered_json::parse(metrics.to_json())},
      {"peak_time_ns", peak_time_ns},
  };
  auto& segments = json["segments_at_peak"] = nlohmann::ordered_json::array();
  for (const SegmentFigures& segment : segments_at_peak) {
    segments.push_back({{"address", segment.address},
                        {"size_bytes", segment.size_bytes},
                        {"large", segment.large},
                        {"live_bytes", segment.live_bytes},
                        {"live_blocks", segment.live_blocks},
                        {"requested_bytes", segment.requested_bytes},
                        {"idle_bytes", segment.idle_bytes},
                        {"idle_blocks", segment.idle_blocks},
                        {"pending_bytes", segment.pending_bytes},
                        {"free_bytes", segment.free_bytes},
                        {"free_blocks", segment.free_blocks},
                        {"largest_free_block_bytes", segment.largest_free_block_bytes}});
  }
  auto& series = json["fragmentation"] = nlohmann::ordered_json::array();
  for (const FragmentationSample& sample : fragmentation) {
    series.push_back({{"time_ns", sample.time_ns},
                      {"events_replayed", sample.events_replayed},
                      {"bytes_held", sample.bytes_held},
                      {"bytes_live", sample.bytes_live},
                      {"bytes_idle", sample.bytes_idle},
                      {"bytes_free_in_segments", sample.bytes_free_in_segments},
                      {"largest_free_block_bytes", sample.largest_free_block_bytes},
                      {"segments", sample.segments}});
  }
  return json.dump();
}

}  // namespace bufferpool
