package opcuasim

import "math"

// demo holds the boiler's process values at one step.
type demo struct {
	temperature float64
	pressure    float64
	running     bool
}

// demoValues computes the values at step n: slow sine waves with a period of
// 60 steps, rounded to two decimals like a real transmitter would report.
func demoValues(n int) demo {
	phase := 2 * math.Pi * float64(n%60) / 60
	return demo{
		temperature: round2(85 + 3*math.Sin(phase)),
		pressure:    round2(2.5 + 0.2*math.Sin(phase)),
		running:     n%20 < 15,
	}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
