// One partial sum per thread group: partial[g] = sum of x[i] (or x[i]^2 when
// square != 0) over the group's elements. Run it again on the partials until
// one value is left. Works for any group size, not only powers of two.
#version 450
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(set = 0, binding = 0) readonly buffer Input { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Output { float partial[]; };

layout(push_constant) uniform Params {
  uint n;
  uint square;
} params;

shared float scratch[gl_WorkGroupSize.x];

void main() {
  const uint local = gl_LocalInvocationID.x;
  const uint global = gl_GlobalInvocationID.x;
  float v = global < params.n ? x[global] : 0.0;
  if (params.square != 0u) v *= v;
  scratch[local] = v;
  barrier();
  // Halving steps: log2(group size) iterations, far below llvmpipe's cap.
  for (uint remaining = gl_WorkGroupSize.x; remaining > 1u;) {
    const uint upper = (remaining + 1u) / 2u;
    if (local + upper < remaining) scratch[local] += scratch[local + upper];
    barrier();
    remaining = upper;
  }
  if (local == 0u) partial[gl_WorkGroupID.x] = scratch[0];
}
