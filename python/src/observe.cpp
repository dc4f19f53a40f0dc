// Seeing what a pool does, from Python: its memory now (snapshot), the
// buffers still referenced (a leak report), recording its requests as RMM's
// log CSV, a Perfetto timeline and a PyTorch memory_viz snapshot of it, and
// replaying and tuning on recorded traces.
#include "bindings.hpp"

#include <bufferpool/errors.hpp>
#include <bufferpool/live_buffer.hpp>
#include <bufferpool/memory_snapshot.hpp>
#include <bufferpool/memory_viz.hpp>
#include <bufferpool/pool_events.hpp>
#include <bufferpool/replay.hpp>
#include <bufferpool/timeline.hpp>
#include <bufferpool/trace.hpp>
#include <bufferpool/tune.hpp>

#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bufferpool::python {
namespace {

double seconds_of(const std::chrono::nanoseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

const char* state_name(const BlockState state) {
  switch (state) {
    case BlockState::live:
      return "live";
    case BlockState::idle:
      return "idle";
    case BlockState::pending:
      return "pending";
    case BlockState::free:
      return "free";
  }
  return "unknown";
}

py::dict snapshot_as_dict(const MemorySnapshot& snapshot) {
  py::list segments;
  for (const SnapshotSegment& segment : snapshot.segments) {
    py::list blocks;
    for (const SnapshotBlock& block : segment.blocks) {
      py::dict entry;
      entry["address"] = block.address;
      entry["size_bytes"] = block.size_bytes;
      entry["requested_bytes"] = block.requested_bytes;
      entry["state"] = state_name(block.state);
      entry["class_index"] = block.class_index;
      blocks.append(std::move(entry));
    }
    py::dict entry;
    entry["address"] = segment.address;
    entry["size_bytes"] = segment.size_bytes;
    entry["large"] = segment.large;
    entry["blocks"] = std::move(blocks);
    segments.append(std::move(entry));
  }
  py::dict result;
  result["time"] = seconds_of(snapshot.time);
  result["segments"] = std::move(segments);
  return result;
}

py::dict live_buffer_as_dict(const LiveBuffer& buffer) {
  py::dict entry;
  entry["address"] = buffer.address;
  entry["size_bytes"] = buffer.size_bytes;
  entry["capacity_bytes"] = buffer.capacity_bytes;
  entry["class_index"] = buffer.class_index;
  entry["ref_count"] = buffer.ref_count;
  entry["age"] = buffer.age ? py::cast(seconds_of(*buffer.age)) : py::none();
  entry["allocation_site"] = py::cast(buffer.allocation_site);
  return entry;
}

py::dict replay_as_dict(const ReplayResult& result) {
  py::dict entry;
  entry["trace"] = result.trace;
  entry["requests"] = result.requests;
  entry["hits"] = result.hits;
  entry["hit_rate"] = result.hit_rate;
  entry["failed_requests"] = result.failed_requests;
  entry["peak_bytes_held"] = result.peak_bytes_held;
  entry["peak_bytes_live"] = result.peak_bytes_live;
  entry["overhead"] = result.overhead;
  entry["device_allocations"] = result.device_allocations;
  entry["metrics"] = json_to_dict(result.metrics.to_json());
  return entry;
}

py::dict candidate_as_dict(const TuneCandidate& candidate) {
  py::list traces;
  for (const TuneTraceScore& score : candidate.traces) {
    py::dict entry;
    entry["trace"] = score.trace;
    entry["requests"] = score.requests;
    entry["misses"] = score.misses;
    entry["hit_rate"] = score.hit_rate;
    entry["failed_requests"] = score.failed_requests;
    entry["peak_bytes_held"] = score.peak_bytes_held;
    entry["peak_bytes_live"] = score.peak_bytes_live;
    entry["overhead"] = score.overhead;
    entry["limit_bytes"] = score.limit_bytes;
    entry["excess_bytes"] = score.excess_bytes;
    traces.append(std::move(entry));
  }
  py::dict entry;
  entry["config"] = candidate.config;
  entry["changes"] = candidate.changes;
  entry["hit_rate"] = candidate.hit_rate;
  entry["misses"] = candidate.misses;
  entry["failed_requests"] = candidate.failed_requests;
  entry["peak_bytes_held"] = candidate.peak_bytes_held;
  entry["excess_bytes"] = candidate.excess_bytes;
  entry["device_allocations"] = candidate.device_allocations;
  entry["feasible"] = candidate.feasible();
  entry["traces"] = std::move(traces);
  return entry;
}

std::vector<Trace> traces_from(const py::handle& value) {
  if (py::isinstance<Trace>(value)) return {value.cast<Trace>()};
  std::vector<Trace> traces;
  for (const py::handle item : py::reinterpret_borrow<py::iterable>(value)) {
    if (!py::isinstance<Trace>(item)) {
      throw InvalidArgumentError("bufferpool: tune() takes Trace objects (read_trace()), got " +
                                 py::repr(item).cast<std::string>());
    }
    traces.push_back(item.cast<Trace>());
  }
  return traces;
}

}  // namespace

void bind_observe(py::module_& module) {
  auto pool_class = py::reinterpret_borrow<py::class_<PyBufferPool>>(module.attr("BufferPool"));
  pool_class
      .def(
          "snapshot",
          [](const PyBufferPool& pool) { return snapshot_as_dict(pool.pool().snapshot()); },
          "Every segment and the blocks carved from it, now, as a dict: time (seconds, the "
          "pool's clock) and segments, each with address, size_bytes, large and blocks "
          "(address, size_bytes, requested_bytes, state 'live'/'idle'/'pending'/'free', "
          "class_index). Requests and releases wait while it copies.")
      .def(
          "live_buffers",
          [](const PyBufferPool& pool) {
            py::list result;
            for (const LiveBuffer& buffer : pool.pool().live_buffers()) {
              result.append(live_buffer_as_dict(buffer));
            }
            return result;
          },
          "The buffers still referenced, oldest request first, as dicts (address, "
          "size_bytes, capacity_bytes, class_index, ref_count, age in seconds, "
          "allocation_site). age needs track_live_buffers=True (else None), "
          "allocation_site record_call_stacks=True: a leak report.")
      .def(
          "start_recording",
          [](const PyBufferPool& pool, const std::filesystem::path& path) {
            pool.pool().start_recording(path);
          },
          py::arg("path"),
          "Records every request and release from now on to `path` as RMM's log CSV, which "
          "read_trace(), replay() and tune() read. Raises ConfigError when the file cannot "
          "be opened, UsageError when already recording.")
      .def(
          "stop_recording",
          [](const PyBufferPool& pool) {
            const py::gil_scoped_release unlocked;  // flushes the file
            pool.pool().stop_recording();
          },
          "Flushes and closes the recording; does nothing when not recording.")
      .def_property_readonly("recording",
                             [](const PyBufferPool& pool) { return pool.pool().recording(); })
      .def(
          "add_observer",
          [](const PyBufferPool& pool, const std::shared_ptr<PoolObserver>& observer) {
            pool.pool().add_observer(observer);
          },
          py::arg("observer"),
          "Sends every event from now on to `observer` (a PerfettoTimeline or a "
          "MemoryVizRecorder).")
      .def(
          "remove_observer",
          [](const PyBufferPool& pool, const PoolObserver& observer) {
            pool.pool().remove_observer(observer);
          },
          py::arg("observer"), "Stops the events; unknown observers are ignored.");

  // The base, so that add_observer() takes either kind.
  const py::class_<PoolObserver, std::shared_ptr<PoolObserver>> observer_base(
      module, "PoolObserver", "Receives a pool's events: PerfettoTimeline, MemoryVizRecorder.");

  py::class_<PerfettoTimeline, PoolObserver, std::shared_ptr<PerfettoTimeline>>(
      module, "PerfettoTimeline",
      "A pool's memory over time as a Chrome trace-event JSON file (ui.perfetto.dev):\n\n"
      "    timeline = bufferpool.PerfettoTimeline(pool.config.size_classes)\n"
      "    pool.add_observer(timeline)\n"
      "    ...\n"
      "    pool.remove_observer(timeline)\n"
      "    timeline.write('pool.json')\n\n"
      "Counter tracks 'held' (bytes) and one per size class (in_use_bytes, idle_bytes, "
      "pending_bytes), instant events for evictions, expiries, segments and "
      "out-of-memory. Attach it before the pool's first request.")
      .def(py::init<std::vector<std::size_t>, std::size_t>(), py::arg("size_classes"),
           py::arg("max_events") = PerfettoTimeline::kDefaultMaxEvents)
      .def("to_json", &PerfettoTimeline::to_json, "The timeline as a JSON string.")
      .def("write", &PerfettoTimeline::write, py::arg("path"), "Writes to_json() to `path`.")
      .def_property_readonly("events_held", &PerfettoTimeline::events_held)
      .def_property_readonly("events_dropped", &PerfettoTimeline::events_dropped);

  py::class_<MemoryVizRecorder, PoolObserver, std::shared_ptr<MemoryVizRecorder>>(
      module, "MemoryVizRecorder",
      "A pool's allocation history and memory as the pickle that PyTorch's memory viewer "
      "(pytorch.org/memory_viz) opens. Attach it with pool.add_observer(), then "
      "write(path, pool) after the last request, with none in flight.")
      .def(py::init([](std::size_t max_entries, std::size_t memory_limit_bytes) {
             return std::make_shared<MemoryVizRecorder>(MemoryVizOptions{
                 .max_entries = max_entries, .memory_limit_bytes = memory_limit_bytes});
           }),
           py::arg("max_entries") = MemoryVizOptions{}.max_entries,
           py::arg("memory_limit_bytes") = 0)
      .def(
          "to_pickle",
          [](const MemoryVizRecorder& recorder, const PyBufferPool& pool) {
            return py::bytes(recorder.to_pickle(pool.pool().snapshot()));
          },
          py::arg("pool"), "The pickle, with a snapshot of `pool` taken now, as bytes.")
      .def(
          "write",
          [](const MemoryVizRecorder& recorder, const std::filesystem::path& path,
             const PyBufferPool& pool) { recorder.write(path, pool.pool().snapshot()); },
          py::arg("path"), py::arg("pool"), "Writes to_pickle(pool) to `path`.")
      .def_property_readonly("entries_held", &MemoryVizRecorder::entries_held)
      .def_property_readonly("entries_dropped", &MemoryVizRecorder::entries_dropped);

  py::class_<Trace>(module, "Trace",
                    "A recorded allocation trace (RMM's log CSV), from read_trace().")
      .def_readonly("name", &Trace::name)
      .def_property_readonly("events", [](const Trace& trace) { return trace.events.size(); })
      .def_readonly("thread_count", &Trace::thread_count)
      .def_readonly("allocation_count", &Trace::allocation_count)
      .def_readonly("peak_live_bytes", &Trace::peak_live_bytes)
      .def_readonly("live_at_end", &Trace::live_at_end)
      .def_property_readonly(
          "duration",
          [](const Trace& trace) { return static_cast<double>(trace.duration_ns()) / 1e9; },
          "Seconds from the first event to the last.")
      .def("__repr__", [](const Trace& trace) {
        return "<bufferpool.Trace " + trace.name + ": " + std::to_string(trace.events.size()) +
               " events, peak live " + std::to_string(trace.peak_live_bytes) + " B>";
      });

  module.def(
      "read_trace",
      [](const std::filesystem::path& path) {
        const py::gil_scoped_release unlocked;
        return read_trace(path);
      },
      py::arg("path"),
      "Reads a trace that BufferPool.start_recording() (or RMM's logging adaptor) wrote. "
      "Raises TraceError (a bufferpool.Error) naming the line that is wrong.");

  module.def(
      "replay",
      [](const Trace& trace, const py::handle& config,
         const std::vector<std::shared_ptr<PoolObserver>>& observers) {
        const PoolConfig settings = pool_config_from(config);
        ReplayOptions options;
        options.observers = observers;
        ReplayResult result;
        {
          const py::gil_scoped_release unlocked;
          result = replay(trace, settings, options);
        }
        return replay_as_dict(result);
      },
      py::arg("trace"), py::arg("config") = py::none(), py::kw_only(),
      py::arg("observers") = std::vector<std::shared_ptr<PoolObserver>>{},
      "Replays `trace` against a pool with `config` (a PoolConfig or a dict of settings) on "
      "a simulated device, in the trace's own time; returns requests, hits, hit_rate, "
      "failed_requests, peak_bytes_held, peak_bytes_live, overhead, device_allocations "
      "and the pool's metrics. `observers` (PerfettoTimeline, MemoryVizRecorder) see every "
      "event of the replay, in the trace's time.");

  module.def(
      "tune",
      [](const py::handle& traces, double max_overhead,
         const std::optional<std::size_t>& memory_budget_bytes, const py::handle& baseline,
         unsigned refinement_rounds, unsigned threads) {
        TuneOptions options;
        if (memory_budget_bytes) {
          options.objective.kind = TuneObjective::Kind::memory_budget;
          options.objective.memory_budget_bytes = *memory_budget_bytes;
        } else {
          options.objective.max_overhead = max_overhead;
        }
        options.baseline = pool_config_from(baseline);
        options.refinement_rounds = refinement_rounds;
        options.threads = threads;
        const std::vector<Trace> inputs = traces_from(traces);
        TuneResult result;
        {
          const py::gil_scoped_release unlocked;
          result = tune(inputs, options);
        }
        py::list frontier;
        for (const TuneCandidate& candidate : result.frontier) {
          frontier.append(candidate_as_dict(candidate));
        }
        py::dict entry;
        entry["objective"] = result.objective.describe();
        entry["baseline"] = candidate_as_dict(result.baseline);
        entry["recommended"] = candidate_as_dict(result.recommended);
        entry["frontier"] = std::move(frontier);
        entry["candidates_evaluated"] = result.candidates_evaluated;
        return entry;
      },
      py::arg("traces"), py::kw_only(), py::arg("max_overhead") = 1.25,
      py::arg("memory_budget_bytes") = py::none(), py::arg("baseline") = py::none(),
      py::arg("refinement_rounds") = 3, py::arg("threads") = 0,
      "The settings a pool should use for the workload of `traces` (a Trace or a list): "
      "the most hits with peak bytes held at most max_overhead times the trace's peak live "
      "bytes (or at most memory_budget_bytes), never worse than `baseline`. Returns "
      "objective, baseline, recommended (each with its PoolConfig under 'config', "
      "'changes', hit_rate, peak_bytes_held, ...), frontier and candidates_evaluated.");
}

}  // namespace bufferpool::python
