package webui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/ws-dev/ws/internal/kv"
)

// The web page's state lives in a [kv.Store] (Config.Store): in this process by default,
// in Redis when gateway replicas share it. Every key is a SHA-256 of the secret it stands
// for (a cookie, a link, an OAuth state), never the secret; what a session keeps of its
// GitLab token is in the value, which a shared store seals with the replica secret.
//
//	web/s/<key>      a session (sessionRecord), until it expires
//	web/sid/<id>     the key of session id (the public name on the sessions page)
//	web/u/<user>     the user's sessions (list of keys by creation)
//	web/l/<key>      an unused sign-in link (linkRecord); web/lu/<key>: it was used
//	web/ul/<user>    the user's unused links (list of keys by expiry)
//	web/o/<key>      a pending GitLab sign-in (oauthState); web/on: how many started lately
//	web/f/<address>  refused token sign-ins from an address (a counter per minute)

type sessionRecord struct {
	ID       string        `json:"id"`
	User     User          `json:"user"`
	CSRF     string        `json:"csrf"`
	How      string        `json:"how"`
	From     string        `json:"from"`
	Agent    string        `json:"agent"`
	Created  time.Time     `json:"created"`
	Expires  time.Time     `json:"expires"`
	Checked  time.Time     `json:"checked"`
	LastUsed time.Time     `json:"last_used"`
	Token    string        `json:"token,omitempty"` // a static credential (form, link)
	OAuth    *oauth2.Token `json:"oauth,omitempty"` // an OAuth sign-in's tokens
}

type linkRecord struct {
	User    User      `json:"user"`
	Token   string    `json:"token"` // the token the link was minted with: the session checks it again
	Path    string    `json:"path"`
	Expires time.Time `json:"expires"`
}

type oauthState struct {
	Verifier string    `json:"verifier"`
	Next     string    `json:"next"`
	Expires  time.Time `json:"expires"`
}

// usedLinkTTL is how long a used link is remembered, to say "already used".
func sessKey(k string) string    { return "web/s/" + k }
func sidKey(id string) string    { return "web/sid/" + id }
func userKey(uid int64) string   { return "web/u/" + kv.FormatInt(uid) }
func linkKey(k string) string    { return "web/l/" + k }
func usedKey(k string) string    { return "web/lu/" + k }
func userLinks(uid int64) string { return "web/ul/" + kv.FormatInt(uid) }
func oauthKey(k string) string   { return "web/o/" + k }

const oauthCount = "web/on"

func failKey(ip string) string { return "web/f/" + ip }

// errStore wraps a store failure (Redis out of reach): the request is refused, nothing
// is lost.
var errStore = errors.New("the gateway's shared state cannot be reached")

func storeErr(err error) error { return fmt.Errorf("%w: %v", errStore, err) }

// session is a live session as read from the store.
type session struct {
	k   string // store key (hash of the cookie)
	raw []byte // the record as read: updates swap it, so an ended session stays ended
	rec sessionRecord
}

func (ui *UI) getSession(ctx context.Context, k string) (*session, error) {
	b, err := ui.kv.Get(ctx, sessKey(k))
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return nil, ErrNoSession
	case err != nil:
		ui.log.Warn("webui: cannot read a session", "err", err)
		return nil, ErrUnverifiable
	}
	s := &session{k: k, raw: b}
	if json.Unmarshal(b, &s.rec) != nil || !ui.now().Before(s.rec.Expires) {
		return nil, ErrNoSession
	}
	return s, nil
}

// putSession stores a new session.
func (ui *UI) putSession(ctx context.Context, s *session) error {
	b, _ := json.Marshal(s.rec)
	ttl := s.rec.Expires.Sub(ui.now())
	if err := ui.kv.Set(ctx, sessKey(s.k), b, ttl); err != nil {
		return err
	}
	if err := ui.kv.Set(ctx, sidKey(s.rec.ID), []byte(s.k), ttl); err != nil {
		return err
	}
	return ui.kv.ListAdd(ctx, userKey(s.rec.User.ID), s.k, s.rec.Created.UnixNano(), ui.cfg.SessionTTL)
}

// updateSession writes s's record back unless the session changed or ended meanwhile.
func (ui *UI) updateSession(ctx context.Context, s *session) {
	b, _ := json.Marshal(s.rec)
	if ok, err := ui.kv.Swap(ctx, sessKey(s.k), s.raw, b, s.rec.Expires.Sub(ui.now())); ok && err == nil {
		s.raw = b
	}
}

// dropSession ends the session of key k.
func (ui *UI) dropSession(ctx context.Context, k string) {
	s, err := ui.getSession(ctx, k)
	if err != nil {
		_ = ui.kv.Del(ctx, sessKey(k))
		return
	}
	_ = ui.kv.Del(ctx, sessKey(k), sidKey(s.rec.ID))
	_ = ui.kv.ListRemove(ctx, userKey(s.rec.User.ID), k)
}

// sessionsOf returns user uid's live sessions, oldest first, forgetting ended ones.
func (ui *UI) sessionsOf(ctx context.Context, uid int64) []*session {
	keys, err := ui.kv.List(ctx, userKey(uid))
	if err != nil {
		return nil
	}
	var out []*session
	for _, k := range keys {
		s, err := ui.getSession(ctx, k)
		switch {
		case errors.Is(err, ErrNoSession):
			_ = ui.kv.ListRemove(ctx, userKey(uid), k)
		case err == nil && s.rec.User.ID == uid:
			out = append(out, s)
		}
	}
	return out
}

// credential returns what session s was made with, to check again.
func (ui *UI) credential(s *session) credential {
	if s.rec.OAuth != nil {
		return &oauthCredential{ui: ui, tok: s.rec.OAuth}
	}
	return staticToken(s.rec.Token)
}

// allowAttempt reports whether address ip may try a token sign-in now.
func (ui *UI) allowAttempt(ctx context.Context, ip string) bool {
	n, err := ui.kv.Count(ctx, failKey(ip))
	return err != nil || n < maxFailures
}

func (ui *UI) failedAttempt(ctx context.Context, ip string) {
	_, _ = ui.kv.Incr(ctx, failKey(ip), time.Minute)
}
