package synth

import (
	"math"
	"math/bits"
)

// rng is SplitMix64: small, fast, and fixed here so that a seed means the
// same capture whatever the Go release.
type rng struct{ s uint64 }

func (r *rng) u64() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// mix64 is SplitMix64's output function: a bijective scramble of x.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (r *rng) u32() uint32 { return uint32(r.u64() >> 32) }

// float returns a uniform value in [0, 1).
func (r *rng) float() float64 { return float64(r.u64()>>11) * 0x1p-53 }

// intn returns a uniform value in [0, n), n > 0.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.u64(), uint64(n))
	return int(hi)
}

// between returns a uniform value in [lo, hi).
func (r *rng) between(lo, hi int64) int64 { return lo + int64(r.float()*float64(hi-lo)) }

// exp returns an exponentially distributed value with the given mean.
func (r *rng) exp(mean float64) float64 { return -mean * math.Log(1-r.float()) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }
