package webui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// OAuthConfig enables "Sign in with GitLab": the OAuth 2 authorization code flow with PKCE
// (S256) against a GitLab application. Register the application in GitLab with the redirect
// URI PublicURL + "/oauth/callback" and the read_user scope.
type OAuthConfig struct {
	GitLabURL    string   // e.g. https://gitlab.example.com
	ClientID     string   // the application ID
	ClientSecret string   // optional: a non-confidential application relies on PKCE alone
	Scopes       []string // default read_user
}

func (c *OAuthConfig) check() error {
	u, err := url.Parse(c.GitLabURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("oauth: GitLab URL %q: want http(s)://host", c.GitLabURL)
	}
	if c.ClientID == "" {
		return errors.New("oauth: client ID is empty")
	}
	return nil
}

func (c *OAuthConfig) origin() string {
	u, _ := url.Parse(c.GitLabURL) // checked by check
	return u.Scheme + "://" + u.Host
}

const oauthTTL = 10 * time.Minute

func (ui *UI) oauthCookie() string {
	if ui.secure {
		return "__Host-ws_web_oauth"
	}
	return "ws_web_oauth"
}

// oauth2Config is GitLab's OAuth application as golang.org/x/oauth2 sees it.
func (ui *UI) oauth2Config() *oauth2.Config {
	oc := ui.cfg.OAuth
	scopes := oc.Scopes
	if len(scopes) == 0 {
		scopes = []string{"read_user"}
	}
	base := strings.TrimSuffix(oc.GitLabURL, "/")
	return &oauth2.Config{
		ClientID:     oc.ClientID,
		ClientSecret: oc.ClientSecret,
		Endpoint: oauth2.Endpoint{AuthURL: base + "/oauth/authorize", TokenURL: base + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: strings.TrimSuffix(ui.cfg.PublicURL, "/") + "/oauth/callback",
		Scopes:      scopes,
	}
}

// oauthContext carries the HTTP client the token exchange and refreshes use.
func (ui *UI) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, ui.cfg.HTTPClient)
}

func (ui *UI) handleOAuthStart(w http.ResponseWriter, r *http.Request) {
	if ui.cfg.OAuth == nil {
		ui.message(w, r, http.StatusNotFound, "GitLab sign-in is not set up", "This gateway has no GitLab OAuth application; sign in with a token.")
		return
	}
	state, verifier := secret(), oauth2.GenerateVerifier()
	now := ui.now()
	ctx := r.Context()
	n, err := ui.kv.Incr(ctx, oauthCount, oauthTTL)
	if err == nil && n > maxPending {
		ui.log.Warn("webui: too many GitLab sign-ins in progress", "limit", maxPending)
		ui.message(w, r, http.StatusServiceUnavailable, "Too many sign-ins in progress", "Try again in a few minutes.")
		return
	}
	rec, _ := json.Marshal(oauthState{Verifier: verifier, Next: ui.next(r.URL.Query().Get("next")), Expires: now.Add(oauthTTL)})
	if err == nil {
		err = ui.kv.Set(ctx, oauthKey(key(state)), rec, oauthTTL)
	}
	if err != nil {
		ui.log.Error("webui: cannot store a GitLab sign-in", "err", err)
		ui.message(w, r, http.StatusServiceUnavailable, "Sign-in failed", "The gateway cannot start a GitLab sign-in now. Try again in a moment.")
		return
	}
	// The state also goes in a cookie, so the callback only completes in the browser that
	// started the flow. Lax: GitLab's redirect back is a cross-site top-level GET.
	ui.setCookie(w, ui.oauthCookie(), state, oauthTTL, http.SameSiteLaxMode)
	http.Redirect(w, r, ui.oauth2Config().AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusSeeOther)
}

func (ui *UI) handleOAuthCallback(w http.ResponseWriter, r *http.Request) {
	if ui.cfg.OAuth == nil {
		ui.message(w, r, http.StatusNotFound, "GitLab sign-in is not set up", "This gateway has no GitLab OAuth application.")
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	c, err := r.Cookie(ui.oauthCookie())
	ui.setCookie(w, ui.oauthCookie(), "", -1, http.SameSiteLaxMode)
	now := ui.now()
	var st oauthState
	b, terr := ui.kv.Take(r.Context(), oauthKey(key(state)))
	ok := terr == nil && json.Unmarshal(b, &st) == nil
	if err != nil || !equal(c.Value, state) || !ok || !now.Before(st.Expires) {
		ui.signInRefused(w, r, http.StatusBadRequest, "GitLab sign-in did not complete",
			"The sign-in started in another browser or took too long. Start again.")
		return
	}
	if e := q.Get("error"); e != "" {
		ui.signInRefused(w, r, http.StatusUnauthorized, "GitLab sign-in was declined", "GitLab said: "+e+".")
		return
	}
	conf := ui.oauth2Config()
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	tok, err := conf.Exchange(ui.oauthContext(ctx), q.Get("code"), oauth2.VerifierOption(st.Verifier))
	cancel()
	if err != nil {
		ui.log.Error("webui: oauth token exchange", "err", err)
		ui.signInRefused(w, r, http.StatusBadGateway, "GitLab sign-in failed", "The gateway could not complete sign-in with GitLab. Try again.")
		return
	}
	u, err := ui.b.UserFromToken(r.Context(), tok.AccessToken)
	if err != nil {
		ui.log.Warn("webui: oauth user refused", "err", err)
		ui.signInRefused(w, r, http.StatusUnauthorized, "GitLab sign-in failed", "GitLab's token was not accepted by the gateway.")
		return
	}
	// The session keeps the tokens (sealed with the replica secret in a shared store) to
	// check them again every Recheck; GitLab's access tokens last 2 hours, and the
	// credential refreshes them with the refresh token.
	if ui.startSession(w, r, u, "oauth", "", tok) {
		http.Redirect(w, r, ui.path(st.Next), http.StatusSeeOther)
	}
}

// oauthCredential is an OAuth sign-in's tokens, refreshed when the access token expires
// (tok then holds the new ones, which the session stores). A refresh that GitLab refuses
// (the grant was revoked) is a rejected token: the session ends.
type oauthCredential struct {
	ui  *UI
	tok *oauth2.Token
}

func (c *oauthCredential) Token(ctx context.Context) (string, error) {
	t, err := c.ui.oauth2Config().TokenSource(c.ui.oauthContext(ctx), c.tok).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return "", fmt.Errorf("%w: refresh: %s", ErrTokenRejected, re.ErrorCode)
		}
		return "", err
	}
	c.tok = t
	return t.AccessToken, nil
}
