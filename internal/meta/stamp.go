package meta

import (
	"math"
	"time"
)

// Backends store times as Unix nanoseconds, which int64 holds only from
// 1677 to 2262. Times beyond are clamped to the nearest end instead of
// wrapping (a token expiring in 2300 would wrap to 1715 and be expired at
// birth), so they keep their order against every storable time.
var (
	minStamp = time.Unix(0, math.MinInt64)
	maxStamp = time.Unix(0, math.MaxInt64)
)

// Stamp is how backends store t: Unix nanoseconds, clamped; 0 for the zero time.
func Stamp(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minStamp):
		return math.MinInt64
	case t.After(maxStamp):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// FromStamp is the time a stored stamp stands for, in UTC.
func FromStamp(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
