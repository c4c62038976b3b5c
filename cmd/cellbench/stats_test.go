package main

import (
	"math"
	"slices"
	"testing"
)

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"single element median", []float64{7}, 50, 7},
		{"single element p0", []float64{7}, 0, 7},
		{"single element p99", []float64{7}, 99, 7},
		{"odd length median", []float64{1, 2, 10}, 50, 2},
		{"even length median is the mean of the middle two", []float64{1, 2, 4, 10}, 50, 3},
		{"two elements median", []float64{1, 2}, 50, 1.5},
		{"p0 is the min", []float64{1, 2, 4, 10}, 0, 1},
		{"p100 is the max", []float64{1, 2, 4, 10}, 100, 10},
		{"p90 of 1..10 interpolates", seq(10), 90, 9.1},
		{"p99 of 1..100 interpolates", seq(100), 99, 99.01},
		{"p25 between ranks", []float64{10, 20, 30, 40, 50}, 25, 20},
		{"p10 between ranks", []float64{10, 20, 30, 40, 50}, 10, 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestPercentileInvalid(t *testing.T) {
	for _, tt := range []struct {
		name   string
		sorted []float64
		p      float64
	}{
		{"empty", nil, 50},
		{"negative p", []float64{1}, -1},
		{"p above 100", []float64{1}, 101},
		{"NaN p", []float64{1}, math.NaN()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); !math.IsNaN(got) {
				t.Errorf("percentile(%v, %v) = %v, want NaN", tt.sorted, tt.p, got)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 6} // unsorted, even length
	got := summarize(xs)
	want := summary{Median: 3.5, P90: 5.5, P99: 5.95, Min: 1, Max: 6}
	const eps = 1e-9
	if math.Abs(got.Median-want.Median) > eps || math.Abs(got.P90-want.P90) > eps ||
		math.Abs(got.P99-want.P99) > eps || got.Min != want.Min || got.Max != want.Max {
		t.Errorf("summarize(%v) = %+v, want %+v", xs, got, want)
	}
	if xs[0] != 5 || xs[5] != 6 {
		t.Errorf("summarize reordered its input: %v", xs)
	}
}

// seq is 1, 2, ..., n.
func seq(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(i + 1)
	}
	return s
}

func TestMedianCI95(t *testing.T) {
	tests := []struct {
		name           string
		xs             []float64
		median, lo, hi float64
	}{
		// n=200: ranks floor(100−13.86)=86 and ceil(114.86)=115.
		{"200 values", seq(200), 100.5, 86, 115},
		// n=10: ranks floor(5−3.10)=1 and ceil(9.10)=10.
		{"10 values", seq(10), 5.5, 1, 10},
		{"one value", []float64{3}, 3, 3, 3},
		{"unsorted", []float64{3, 1, 2}, 2, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, lo, hi := medianCI95(tt.xs)
			if m != tt.median || lo != tt.lo || hi != tt.hi {
				t.Errorf("medianCI95 = %v [%v, %v], want %v [%v, %v]", m, lo, hi, tt.median, tt.lo, tt.hi)
			}
		})
	}
	if m, lo, hi := medianCI95(nil); !math.IsNaN(m) || !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("medianCI95(nil) = %v [%v, %v], want NaNs", m, lo, hi)
	}
}

func TestPairedDiffs(t *testing.T) {
	got := pairedDiffs([]float64{1, 2, 3}, []float64{2, 2, 1, 9})
	want := []float64{1, 0, -2}
	if !slices.Equal(got, want) {
		t.Errorf("pairedDiffs = %v, want %v", got, want)
	}
}
