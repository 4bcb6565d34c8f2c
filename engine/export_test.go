package engine

// RaceEnabled tells the external tests whether allocation counts mean
// anything (see raceEnabled).
const RaceEnabled = raceEnabled
