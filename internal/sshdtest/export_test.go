package sshdtest

// OtherFleetsAlive lets tests tell a leak from a fleet that another test
// process is still running.
var OtherFleetsAlive = otherFleetsAlive

// LancopeMarker is the file that says a fleet created /lancope.
const LancopeMarker = lancopeMarker
