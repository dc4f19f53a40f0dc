// Compiled to SPIR-V at build time by glslangValidator, to test loading .spv.
#version 450
layout(local_size_x = 32) in;
layout(set = 0, binding = 0) writeonly buffer Data { uint values[]; };
void main() {
  if (gl_GlobalInvocationID.x < 100u) values[gl_GlobalInvocationID.x] = gl_GlobalInvocationID.x;
}
