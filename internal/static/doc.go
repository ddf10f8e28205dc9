// Package static holds tests of refbot's source code itself rather than
// of its behaviour: properties every shipped file must have, checked by
// reading the code (go/ast). It has no code of its own.
package static
