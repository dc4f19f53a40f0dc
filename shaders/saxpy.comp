// out[i] = a * x[i] + y[i]
#version 450
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Y { float y[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float result[]; };

layout(push_constant) uniform Params {
  uint n;
  float a;
} params;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i < params.n) result[i] = params.a * x[i] + y[i];
}
