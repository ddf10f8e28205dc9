// Package failpoint lets the crash tests kill refbot at an exact step. In
// a binary built with the build tag "failpoint" (the crash tests build
// refbot so), when the environment variable REFBOT_FAILPOINT names a point,
// the process sends itself SIGKILL on reaching it, as a power cut or the
// OOM killer would. Without the tag, as refbot is shipped, Hit does
// nothing and costs nothing: the variable is never read.
package failpoint
