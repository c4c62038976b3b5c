package main

import (
	"math"
	"slices"
)

// percentile returns the p-th percentile (0 ≤ p ≤ 100) of sorted, which
// must be in ascending order, interpolating linearly between the two
// nearest ranks (the "R-7" definition, numpy's default): the 50th
// percentile of an even number of values is the mean of the middle two.
// It returns NaN for an empty slice or a p out of range.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 || !(p >= 0 && p <= 100) {
		return math.NaN()
	}
	h := float64(len(sorted)-1) * p / 100
	lo := int(math.Floor(h))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// summary is the distribution of one command's samples.
type summary struct {
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// summarize describes xs, which it leaves unchanged.
func summarize(xs []float64) summary {
	s := slices.Clone(xs)
	slices.Sort(s)
	return summary{
		Median: percentile(s, 50),
		P90:    percentile(s, 90),
		P99:    percentile(s, 99),
		Min:    percentile(s, 0),
		Max:    percentile(s, 100),
	}
}

// medianCI95 returns the median of xs, which it leaves unchanged, and a
// 95% confidence interval of the median of the distribution xs are drawn
// from, by order statistics: the values of ranks n/2 − 1.96·√n/2 and
// 1 + n/2 + 1.96·√n/2 (1-based, rounded outward, within 1..n), an interval
// that assumes only independent draws from a continuous distribution.
// It returns NaNs for an empty xs.
func medianCI95(xs []float64) (median, lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := float64(len(s))
	half := 1.96 * math.Sqrt(n) / 2
	j := max(int(math.Floor(n/2-half)), 1)
	k := min(int(math.Ceil(1+n/2+half)), len(s))
	return percentile(s, 50), s[j-1], s[k-1]
}

// pairedDiffs is b[i] − a[i] for every i of the shorter of a and b.
func pairedDiffs(a, b []float64) []float64 {
	d := make([]float64, min(len(a), len(b)))
	for i := range d {
		d[i] = b[i] - a[i]
	}
	return d
}
