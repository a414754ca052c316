//go:build race

package router

// raceEnabled: the race detector slows everything several times, so
// latency assertions are skipped under it.
const raceEnabled = true
