package bench

import "testing"

func TestIngestVerdict(t *testing.T) {
	for _, c := range []struct {
		ratio, got, write, sign float64
		want                    string
	}{
		{1.0, 250_000, 260_000, 1e9, "ok"},
		{0.86, 3_800, 4_400, 56_000, "bound"},   // one synced write per poll
		{1.3, 50_000, 38_000, 111_000, "bound"}, // bare signing below 200k
		{1.0, 150_000, 300_000, 400_000, "MISS"},
		{0.4, 250_000, 600_000, 1e9, "MISS"},
		{0.4, 3_000, 4_400, 56_000, "MISS"}, // bound, but slower than half the baseline
	} {
		if got := ingestVerdict(c.ratio, c.got, c.write, c.sign); got != c.want {
			t.Errorf("ingestVerdict(%v, %v, %v, %v) = %s, want %s", c.ratio, c.got, c.write, c.sign, got, c.want)
		}
	}
}
