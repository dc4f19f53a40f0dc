#!/usr/bin/env python3
"""Checks memory_viz pickles that MemoryVizRecorder wrote, with the standard library only.

usage: check_memory_viz.py PICKLE EXPECTED_JSON [PICKLE EXPECTED_JSON ...]

For each pair: pickle.load() reads it; pickletools shows only the opcodes
that PyTorch's viewer (torch/utils/viz/MemoryViz.js) unpickles; the keys are
those the viewer and torch/cuda/_memory_viz.py read; every figure agrees with
the blocks; the trace replays backwards from the snapshot the way the viewer
draws it without touching a block or segment that is not there; and the
values equal EXPECTED_JSON's ("segments", and "device_traces" where given).
"""
import io
import json
import pickle
import pickletools
import sys

# The opcodes MemoryViz.js's unpickle() handles and our writer may use.
ALLOWED_OPCODES = {
    "PROTO", "FRAME", "STOP",
    "EMPTY_DICT", "SETITEM", "SETITEMS", "MARK",
    "EMPTY_LIST", "APPEND", "APPENDS",
    "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "BININT", "BININT1", "BININT2", "LONG1",
    "SHORT_BINUNICODE", "BINUNICODE",
    "BINFLOAT", "NEWTRUE", "NEWFALSE", "NONE",
    "MEMOIZE", "BINPUT", "BINGET",
}
SEGMENT_KEYS = {"device", "address", "total_size", "allocated_size", "active_size",
                "requested_size", "stream", "segment_type", "blocks"}
BLOCK_KEYS = {"address", "size", "requested_size", "state", "frames"}
BLOCK_STATES = {"active_allocated", "active_pending_free", "inactive"}
TRACE_KEYS = {"action", "addr", "size", "stream", "time_us", "frames"}
ACTIONS = {"alloc", "free_requested", "free_completed", "segment_alloc", "segment_free", "oom"}


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def check_opcodes(data):
    names = [opcode.name for opcode, _, _ in pickletools.genops(data)]
    unknown = sorted(set(names) - ALLOWED_OPCODES)
    expect(not unknown, f"opcodes the viewer cannot read: {unknown}")
    expect(names[0] == "PROTO" and names[-1] == "STOP", "not a PROTO ... STOP pickle")
    # dis() also checks the stack and the memo: a BINGET of an index never
    # memoized, a MARK never closed.
    pickletools.dis(data, out=io.StringIO())
    return names


def largest_batch(data):
    """The most items one APPENDS or SETITEMS adds (pairs for SETITEMS), by
    running pickletools' stack effects of each opcode."""
    stack = []
    largest = 0
    for opcode, _, _ in pickletools.genops(data):
        before = opcode.stack_before
        if pickletools.markobject in before:
            items = 0
            while stack[-1] != "mark":
                stack.pop()
                items += 1
            stack.pop()
            if opcode.name == "APPENDS":
                largest = max(largest, items)
            elif opcode.name == "SETITEMS":
                largest = max(largest, items // 2)
            below_mark = [x for x in before if x not in (pickletools.markobject, pickletools.stackslice)]
            del stack[len(stack) - len(below_mark):]
        else:
            del stack[len(stack) - len(before):]
        stack.extend("mark" if x is pickletools.markobject else "value" for x in opcode.stack_after)
    return largest


def check_segments(segments):
    for number, segment in enumerate(segments):
        where = f"segment {number}"
        expect(set(segment) == SEGMENT_KEYS, f"{where}: keys {sorted(segment)}")
        expect(segment["segment_type"] in ("small", "large"), f"{where}: segment_type")
        expect(segment["device"] == 0 and segment["stream"] == 0, f"{where}: device/stream")
        address = segment["address"]
        allocated = active = requested = 0
        for index, block in enumerate(segment["blocks"]):
            expect(set(block) == BLOCK_KEYS, f"{where} block {index}: keys {sorted(block)}")
            expect(block["state"] in BLOCK_STATES, f"{where} block {index}: {block['state']}")
            # The viewer places blocks by summing sizes from the segment's address.
            expect(block["address"] == address, f"{where} block {index}: not where the sizes put it")
            expect(block["frames"] == [], f"{where} block {index}: frames")
            address += block["size"]
            if block["state"] == "active_allocated":
                allocated += block["size"]
            if block["state"] != "inactive":
                active += block["size"]
                requested += block["requested_size"]
                expect(block["requested_size"] <= block["size"],
                       f"{where} block {index}: requested more than its size")
        expect(address == segment["address"] + segment["total_size"],
               f"{where}: blocks do not tile it")
        expect(segment["allocated_size"] == allocated, f"{where}: allocated_size")
        expect(segment["active_size"] == active, f"{where}: active_size")
        expect(segment["requested_size"] == requested, f"{where}: requested_size")


def check_trace(trace):
    for index, entry in enumerate(trace):
        keys = TRACE_KEYS | ({"device_free"} if entry.get("action") == "oom" else set())
        expect(set(entry) == keys, f"trace entry {index}: keys {sorted(entry)}")
        expect(entry["action"] in ACTIONS, f"trace entry {index}: action {entry['action']}")
        expect(entry["frames"] == [] and entry["stream"] == 0, f"trace entry {index}: frames/stream")
        if index > 0:
            expect(entry["time_us"] >= trace[index - 1]["time_us"], f"trace entry {index}: time")


def replay_like_the_viewer(snapshot):
    """MemoryViz.js's simulate_memory(), from the last entry back to the first,
    failing where the viewer would touch a missing block or segment."""
    segments = {s["address"]: s["total_size"] for s in snapshot["segments"]}
    blocks = {}
    for segment in snapshot["segments"]:
        for block in segment["blocks"]:
            if block["state"] != "inactive":
                blocks[block["address"]] = {"size": block["requested_size"],
                                            "free_requested": block["state"] == "active_pending_free"}

    def in_a_segment(address):
        return any(start <= address < start + size for start, size in segments.items())

    for block_address in blocks:
        expect(in_a_segment(block_address), f"snapshot block {block_address:#x} in no segment")
    trace = snapshot["device_traces"][0]
    for index in range(len(trace) - 1, -1, -1):
        entry = trace[index]
        action, address = entry["action"], entry["addr"]
        where = f"trace entry {index} ({action} {address:#x})"
        if action == "alloc":
            expect(address in blocks, f"{where}: the viewer finds no block to take back")
            del blocks[address]
        elif action == "free_requested":
            expect(address in blocks, f"{where}: the viewer finds no block (it would throw)")
            blocks[address]["free_requested"] = False
        elif action == "free_completed":
            expect(address not in blocks, f"{where}: a block is already there")
            expect(in_a_segment(address), f"{where}: the block is in no segment")
            blocks[address] = {"size": entry["size"], "free_requested": True}
        elif action == "segment_free":
            expect(address not in segments, f"{where}: the segment is already there")
            segments[address] = entry["size"]
        elif action == "segment_alloc":
            # unmap_segment() removes by address; a missing one would splice out another.
            expect(segments.get(address) == entry["size"], f"{where}: no such segment to take back")
            del segments[address]
            inside = [b for b in blocks if address <= b < address + entry["size"]]
            expect(not inside, f"{where}: blocks {inside} would be left outside any segment")


def check(pickle_path, expected_path):
    with open(pickle_path, "rb") as file:
        data = file.read()
    names = check_opcodes(data)
    snapshot = pickle.loads(data)
    expect(isinstance(snapshot, dict) and set(snapshot) == {"segments", "device_traces"},
           f"top-level keys: {sorted(snapshot) if isinstance(snapshot, dict) else type(snapshot)}")
    expect(len(snapshot["device_traces"]) == 1, "one device trace")
    check_segments(snapshot["segments"])
    check_trace(snapshot["device_traces"][0])
    replay_like_the_viewer(snapshot)
    with open(expected_path, encoding="utf-8") as file:
        expected = json.load(file)
    expect(snapshot["segments"] == expected["segments"], "segments differ from the expected")
    if "device_traces" in expected:
        expect(snapshot["device_traces"] == expected["device_traces"],
               "device_traces differ from the expected")
    entries = len(snapshot["device_traces"][0])
    # Batches of at most 1000, as Python writes them: the viewer adds a batch
    # with one spread call, which a much longer one would overflow.
    batch = largest_batch(data)
    expect(batch <= 1000, f"a batch of {batch} items")
    print(f"{pickle_path}: {len(snapshot['segments'])} segments, {entries} trace entries, "
          f"{len(data)} bytes, opcodes {sorted(set(names))}")


def main(argv):
    if len(argv) < 3 or len(argv) % 2 == 0:
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    for pickle_path, expected_path in zip(argv[1::2], argv[2::2]):
        try:
            check(pickle_path, expected_path)
        except (CheckFailed, OSError, pickle.UnpicklingError, ValueError) as error:
            print(f"{pickle_path}: FAILED: {error}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
