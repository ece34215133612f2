// runtime/src/fixedpoint.h against gemmlowp's own fixedpoint/fixedpoint.h (Debian: libgemmlowp-dev), value for
// value: the primitives, and the exp / 1/(1+x) / logistic / tanh that TFLite's int8 kernels are built on, over
// edge values and a fixed pseudo-random sample. Prints one line per mismatch (at most 20) and a final
// "checked N, mismatches M"; exits 1 on any mismatch. Built with -fwrapv: gemmlowp's int32 Add/Sub/Neg wrap there
// as fixedpoint.h's explicitly wrapping ones do.
#include <cstdint>
#include <cstdio>

#include "fixedpoint.h"
#include "gemmlowp/fixedpoint/fixedpoint.h"

namespace {

using gemmlowp::FixedPoint;

long checked = 0, mismatches = 0;

void expect(const char *what, long long arg, long long arg2, long long got, long long want) {
  ++checked;
  if (got != want) {
    if (++mismatches <= 20) {
      std::printf("%s(%lld, %lld): fixedpoint.h %lld, gemmlowp %lld\n", what, arg, arg2, got, want);
    }
  }
}

uint64_t state = 0x9E3779B97F4A7C15ull;

int32_t next_random() {  // xorshift64*: a fixed sample, the same every run
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return static_cast<int32_t>((state * 2685821657736338717ull) >> 32);
}

// Edge values, then random values at every magnitude (shifted right by 0..31 bits).
template <typename F>
void for_samples(F f) {
  const int32_t edges[] = {0, 1, -1, 2, -2, INT32_MIN, INT32_MIN + 1, INT32_MAX, INT32_MAX - 1, 1 << 30, -(1 << 30),
                           (1 << 30) - 1, 1 << 29, -(1 << 29), 1 << 28, -(1 << 28), 1 << 27, -(1 << 27), 12345,
                           -12345, 255, -255, 128, -128};
  for (int32_t e : edges) f(e);
  for (int i = 0; i < 4000; ++i) {
    const int32_t r = next_random();
    f(r >> (i % 32));
  }
}

template <int kBits>
void check_functions_of_q() {
  using F = FixedPoint<int32_t, kBits>;
  for_samples([](int32_t a) {
    const int32_t neg = a > 0 ? -a : a;
    if (neg != INT32_MIN) {
      expect("exp_on_negative_values", neg, kBits, el_fp_exp_on_negative_values(neg, kBits),
             gemmlowp::exp_on_negative_values(F::FromRaw(neg)).raw());
    }
    if (kBits < 30) {
      expect("logistic", a, kBits, el_fp_logistic(a, kBits), gemmlowp::logistic(F::FromRaw(a)).raw());
      expect("tanh", a, kBits, el_fp_tanh(a, kBits), gemmlowp::tanh(F::FromRaw(a)).raw());
    }
  });
}

template <int kExponent>
void check_mul_pot() {
  for_samples([](int32_t a) {
    expect("SaturatingRoundingMultiplyByPOT", a, kExponent, el_fp_mul_pot(a, kExponent),
           gemmlowp::SaturatingRoundingMultiplyByPOT<kExponent>(a));
  });
}

}  // namespace

int main() {
  for_samples([](int32_t a) {
    for_samples([a](int32_t b) {
      if ((a ^ b) & 0xff) return;  // a thinned cross product: about 1/256 of the pairs
      expect("SaturatingRoundingDoublingHighMul", a, b, el_srdhm(a, b),
             gemmlowp::SaturatingRoundingDoublingHighMul(a, b));
      expect("RoundingHalfSum", a, b, el_rounding_half_sum(a, b), gemmlowp::RoundingHalfSum(a, b));
    });
    expect("SaturatingRoundingDoublingHighMul", a, a, el_srdhm(a, a),
           gemmlowp::SaturatingRoundingDoublingHighMul(a, a));
    for (int e = 0; e <= 31; ++e) {
      expect("RoundingDivideByPOT", a, e, el_rdbpot(a, e), gemmlowp::RoundingDivideByPOT(a, e));
    }
    if (a >= 0) {
      expect("one_over_one_plus_x_for_x_in_0_1", a, 0, el_fp_one_over_one_plus_x(a),
             gemmlowp::one_over_one_plus_x_for_x_in_0_1(FixedPoint<int32_t, 0>::FromRaw(a)).raw());
      expect("one_minus_x_over_one_plus_x_for_x_in_0_1", a, 0, el_fp_one_minus_x_over_one_plus_x(a),
             gemmlowp::one_minus_x_over_one_plus_x_for_x_in_0_1(FixedPoint<int32_t, 0>::FromRaw(a)).raw());
    }
    if (a < 0 && a >= -(1 << 29)) {
      expect("exp_on_interval_between_negative_one_quarter_and_0_excl", a, 0, el_fp_exp_on_interval(a),
             gemmlowp::exp_on_interval_between_negative_one_quarter_and_0_excl(
                 FixedPoint<int32_t, 0>::FromRaw(a)).raw());
    }
    const int16_t h = static_cast<int16_t>(a);
    const int16_t h2 = static_cast<int16_t>(a >> 16);
    expect("SaturatingRoundingDoublingHighMul16", h, h2, el_srdhm16(h, h2),
           gemmlowp::SaturatingRoundingDoublingHighMul(h, h2));
    for (int e = 0; e <= 15; ++e) {
      expect("RoundingDivideByPOT16", h, e, el_rdbpot16(h, e), gemmlowp::RoundingDivideByPOT(h, e));
    }
  });
  check_functions_of_q<0>();
  check_functions_of_q<1>();
  check_functions_of_q<2>();
  check_functions_of_q<3>();
  check_functions_of_q<4>();
  check_functions_of_q<5>();
  check_functions_of_q<6>();
  check_functions_of_q<8>();
  check_functions_of_q<12>();
  check_mul_pot<-12>();
  check_mul_pot<-1>();
  check_mul_pot<1>();
  check_mul_pot<2>();
  check_mul_pot<4>();
  std::printf("checked %ld, mismatches %ld\n", checked, mismatches);
  return mismatches ? 1 : 0;
}
