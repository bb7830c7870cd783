package store

import "github.com/kiemv/kiemv/jobs"

// DefaultNamespace prefixes every key when no namespace is given.
const DefaultNamespace = "kiemv"

// Keys names every Redis key kiemv writes, all under one namespace ns (Asynq's own asynq:*
// keys aside). It is the only place that builds a key name: Records, Limiter and ReplayGuard
// each hold one, and `kiemv bench` reads sizes through it. The names are stored data; changing a format orphans what is
// in Redis, so keys_test.go pins each one.
//
//	<ns>:rec:<id>                    hash: one record (Records)
//	<ns>:state:<state>               sorted set: ids by creation time in unix ms (Records)
//	<ns>:audio:<audio key>           string: claim "(creating:<token>)" or MP4 task id (Records)
//	<ns>:rl:<limit>                  string: GCRA theoretical arrival time (Limiter)
//	<ns>:rl:<limit>:held:<holder>    string: the call booked for holder (Limiter.Reserve)
//	<ns>:rl:<limit>:freed            sorted set: booked calls given back, not yet taken back (Limiter.Release)
//	<ns>:cb:<task id>:<stamp>        string: a callback already acted on (ReplayGuard)
//	<ns>:lock:<name>                 string: the token of the lock's holder (Lock)
//	<ns>:outage:<dep>:<part>         fails, ok, open, probe: a dependency's breaker (Outages)
//	<ns>:credits                     hash: MP4 creates per UTC day "YYYY-MM-DD" and "total" (Ledger)
//	<ns>:song:<music task id>        string: a followed song, as JSON (Songs)
//	<ns>:songs:open                  sorted set: music task ids of songs not ended, by creation time in unix ms (Songs)
//
// Namespaces and ids hold no ':' (ids pass jobs.ValidateID), so no two kinds collide; the
// update script relies on it when it reads the id back from a record key's ":rec:" suffix.
type Keys struct {
	ns string
}

// NewKeys returns the key names under namespace, or under DefaultNamespace if it is "".
func NewKeys(namespace string) Keys {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return Keys{ns: namespace}
}

// Record is the hash of the record of MP4 task id.
func (k Keys) Record(id string) string { return k.ns + ":rec:" + id }

// State is the index of the records in state st.
func (k Keys) State(st jobs.State) string { return k.ns + ":state:" + string(st) }

// Audio is the claim on, then the MP4 task id of, an audio key (see jobs.AudioKey).
func (k Keys) Audio(key string) string { return k.ns + ":audio:" + key }

// Limit is the state of the named rate limit (such as jobs.LimitCreate).
func (k Keys) Limit(name string) string { return k.ns + ":rl:" + name }

// Held is the call of the named limit booked for holder.
func (k Keys) Held(name, holder string) string { return k.Limit(name) + ":held:" + holder }

// Freed is the set of calls of the named limit given back (Limiter.Release) while calls
// booked after them are still held.
func (k Keys) Freed(name string) string { return k.Limit(name) + ":freed" }

// Callback marks the callback of MP4 task taskID with stamp as acted on.
func (k Keys) Callback(taskID, stamp string) string { return k.ns + ":cb:" + taskID + ":" + stamp }

// Lock is the lock of that name (such as "reconcile"), holding its holder's token.
func (k Keys) Lock(name string) string { return k.ns + ":lock:" + name }

// Outage is the shared outage state of a dependency (jobs.DepKIE, or a jobs.HostDep), part is
// one of "fails" (sorted set: holder → unix ms of its last failure), "ok" (unix ms of the last
// success), "open" (unix ms it opened; absent when closed) or "probe" (the probe lease).
func (k Keys) Outage(dep, part string) string { return k.ns + ":outage:" + dep + ":" + part }

// Credits is the hash of the MP4 tasks kiemv created: a field per UTC day, and "total".
func (k Keys) Credits() string { return k.ns + ":credits" }

// Song is the followed song of music task id (a JSON document).
func (k Keys) Song(id string) string { return k.ns + ":song:" + id }

// OpenSongs is the index of the songs that have not ended, for the reconciler.
func (k Keys) OpenSongs() string { return k.ns + ":songs:open" }
