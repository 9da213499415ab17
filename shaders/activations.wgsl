// Element-wise kernels, forward beside backward: SwiGLU (Llama MLP), GELU tanh approximation
// (GPT-2's gelu_new) and the residual adds. Every tensor is a flat array of n f32 values;
// every kernel is a grid-stride loop, so any n fits the 65535-workgroup limit.

override GROUP: u32; // threads per workgroup (the launchers' ELEMENTWISE_GROUP, src/ops/checks.ts)

// Binding names avoid x, y, z, w, r, g, b, a: the layout parser (src/gpu/wgsl-layout.ts) sees
// identifiers, so a swizzle such as `lid.x` would count as using a binding named x.
struct ElementwiseParams { n: u32 }
@group(0) @binding(0) var<uniform> ep: ElementwiseParams;

// Logistic sigmoid and its complement, without overflow for any finite z: with e = exp(−|z|)
// ∈ (0, 1], σ(z) = 1/(1 + e) for z ≥ 0 and e/(1 + e) for z < 0; 1 − σ(z) is the other one, so
// neither is formed by a cancelling subtraction. Returns (σ(z), 1 − σ(z)).
fn sigmoid_pair(z: f32) -> vec2<f32> {
  let e = exp(-abs(z));
  let big = 1.0 / (1.0 + e);
  let small = e / (1.0 + e);
  return select(vec2(small, big), vec2(big, small), z >= 0.0);
}

// ---------------------------------------------------------------------------------------------
// SwiGLU: out = silu(gate)·up, silu(g) = g·σ(g).          gate, up, out: (n)
// Backward:  dgate = dout·up·σ(g)·(1 + g·(1 − σ(g)))    (d silu/dg)
//            dup   = dout·silu(g)

@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> actOut: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(6) var<storage, read_write> dup: array<f32>;

@compute @workgroup_size(GROUP)
fn swiglu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < ep.n; i += nwg.x * GROUP) {
    let g = gate[i];
    actOut[i] = g * sigmoid_pair(g).x * up[i];
  }
}

@compute @workgroup_size(GROUP)
fn swiglu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < ep.n; i += nwg.x * GROUP) {
    let g = gate[i];
    let s = sigmoid_pair(g);
    let d = dout[i];
    dgate[i] = d * up[i] * s.x * (1.0 + g * s.y);
    dup[i] = d * g * s.x;
  }
}

// ---------------------------------------------------------------------------------------------
// GELU, tanh approximation:  out = 0.5·x·(1 + tanh(u)),  u = √(2/π)·(x + 0.044715·x³)
// computed as x·σ(2u), since 0.5·(1 + tanh(u)) = σ(2u) exactly: no cancellation for x < 0, and
// no tanh, whose naive (e^2u − 1)/(e^2u + 1) form turns into inf/inf = NaN on some drivers.
// The argument is clamped to |x| ≤ 20 inside u, so x³ stays finite; beyond it |2u| > 600,
// where σ(2u) is 0 or 1 in f32 for the clamped and the true argument alike (exp(−600)
// underflows to 0), so the clamp changes no result.
// Backward:  dx = dout·(σ(2u) + x·σ(2u)·(1 − σ(2u))·2u'),  u' = √(2/π)·(1 + 3·0.044715·x²)

@group(0) @binding(7) var<storage, read> actIn: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;

const SQRT_2_OVER_PI = 0.7978845608028654;
const GELU_CUBIC = 0.044715;
const GELU_CLAMP = 20.0;

// (x clamped, σ(2u), 1 − σ(2u)) of one input.
fn gelu_parts(v: f32) -> vec3<f32> {
  let xc = clamp(v, -GELU_CLAMP, GELU_CLAMP);
  return vec3(xc, sigmoid_pair(2.0 * SQRT_2_OVER_PI * (xc + GELU_CUBIC * xc * xc * xc)));
}

@compute @workgroup_size(GROUP)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < ep.n; i += nwg.x * GROUP) {
    let v = actIn[i];
    actOut[i] = v * gelu_parts(v).y;
  }
}

@compute @workgroup_size(GROUP)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < ep.n; i += nwg.x * GROUP) {
    let p = gelu_parts(actIn[i]);
    let xc = p.x;
    let du = 2.0 * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * xc * xc);
    dx[i] = dout[i] * (p.y + xc * p.y * p.z * du);
  }
}

// ---------------------------------------------------------------------------------------------
// Residual add: add_into acc += x (the residual stream and its gradient); the other residual
// adds ride on the norms that follow them (shaders/norms.wgsl). Linear: the backward is the
// identity on dacc and dx = dacc, so it needs no kernel of its own.

@group(0) @binding(9) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(GROUP)
fn add_into(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < ep.n; i += nwg.x * GROUP) {
    acc[i] += actIn[i];
  }
}

