// y[b][f] = act(x[b][f] * scale + bias[f]) over a batch x features tensor,
// row-major. Dispatch over (features, batch) threads.
#version 450
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(set = 0, binding = 0) readonly buffer Input { float x[]; };
layout(set = 0, binding = 1) readonly buffer Bias { float bias[]; };
layout(set = 0, binding = 2) writeonly buffer Output { float y[]; };

// kind: 0 identity, 1 relu, 2 leaky relu (alpha), 3 gelu (tanh form), 4 sigmoid, 5 silu
layout(push_constant) uniform Params {
  uint batch;
  uint features;
  uint kind;
  float alpha;
  float scale;
} params;

void main() {
  const uint feature = gl_GlobalInvocationID.x;
  const uint row = gl_GlobalInvocationID.y;
  if (feature >= params.features || row >= params.batch) return;
  const uint index = row * params.features + feature;
  const float v = x[index] * params.scale + bias[feature];
  float result = v;
  if (params.kind == 1u) {
    result = max(v, 0.0);
  } else if (params.kind == 2u) {
    result = v >= 0.0 ? v : params.alpha * v;
  } else if (params.kind == 3u) {
    const float c = 0.7978845608;  // sqrt(2 / pi)
    result = 0.5 * v * (1.0 + tanh(c * (v + 0.044715 * v * v * v)));
  } else if (params.kind == 4u) {
    result = 1.0 / (1.0 + exp(-v));
  } else if (params.kind == 5u) {
    result = v / (1.0 + exp(-v));
  }
  y[index] = result;
}
