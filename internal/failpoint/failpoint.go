// Package failpoint lets the crash tests kill refbot at an exact step. In
// a binary built with the build tag "failpoint" (the crash tests build
// refbot so), when the environment variable REFBOT_FAILPOINT names a point,
// the process sends itself SIGKILL on reaching it, as a power cut or the
// OOM killer would (when it names "panic:" and a point, Hit panics there
// instead, as a bug in a job would); and REFBOT_FAILPOINT_<NAME> can
// shorten a wait that Duration names (the shutdown tests cut the time
// running jobs get to finish); REFBOT_FAILPOINT_OFF names a step that
// does not run at all (Off). Without the tag, as refbot is shipped, Hit,
// Duration and Off do nothing and cost nothing: the variables are never
// read.
package failpoint
