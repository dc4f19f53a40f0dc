// A kernel that writes its buffer and then far past its end, to check that the
// buffers sharing its segment stay safe (robustness_test.cpp). Compiled from
// GLSL at run time, by shaderc, as ComputeManager::load_shader_library does
// for a user's .comp file.
//
// Binding 0 is the buffer under test, of params.n words. Binding 1 receives
// what reading past the end of binding 0 gave.
#version 450
layout(local_size_x_id = 0) in;
layout(set = 0, binding = 0) buffer Target { uint values[]; };
layout(set = 0, binding = 1) writeonly buffer Leaked { uint leaked[]; };
layout(push_constant) uniform Params {
  uint n;    // words in binding 0 (its range)
  uint far;  // an index far beyond it, from the host
} params;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= params.n) return;
  // Read before any write: the words just past the end, where the next
  // buffer of the segment begins.
  const uint past = values[params.n + i];
  values[i] = i + 1u;
  // Just past the end and then every 4000 bytes across the segment.
  values[params.n + i * 1000u] = 0xDEADBEEFu;
  // A push-constant offset beyond the range.
  values[params.far + i] = 0xDEADBEEFu;
  // Indices whose byte offsets wrap a 32-bit address to just before the
  // buffer, where the previous buffer of the segment ends.
  values[0xFFFFFFFFu - i] = 0xDEADBEEFu;
  leaked[i] = past;
}
