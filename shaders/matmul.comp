// c[m][n] = sum over k of a[m][k] * b[k][n], all row-major. Dispatch over
// (columns, rows) threads. k stays below 65536: llvmpipe ends longer loops.
#version 450
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) writeonly buffer C { float c[]; };

layout(push_constant) uniform Params {
  uint rows;     // m
  uint columns;  // n
  uint inner;    // k
} params;

void main() {
  const uint column = gl_GlobalInvocationID.x;
  const uint row = gl_GlobalInvocationID.y;
  if (row >= params.rows || column >= params.columns) return;
  float sum = 0.0;
  for (uint k = 0u; k < params.inner; ++k) {
    sum += a[row * params.inner + k] * b[k * params.columns + column];
  }
  c[row * params.columns + column] = sum;
}
