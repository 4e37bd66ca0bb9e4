package webui

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
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

func (c *OAuthConfig) endpoint(p string) string { return strings.TrimSuffix(c.GitLabURL, "/") + p }

const oauthTTL = 10 * time.Minute

func (ui *UI) oauthCookie() string {
	if ui.secure {
		return "__Host-ws_web_oauth"
	}
	return "ws_web_oauth"
}

func (ui *UI) redirectURI() string {
	return strings.TrimSuffix(ui.cfg.PublicURL, "/") + "/oauth/callback"
}

func (ui *UI) handleOAuthStart(w http.ResponseWriter, r *http.Request) {
	oc := ui.cfg.OAuth
	if oc == nil {
		ui.message(w, r, http.StatusNotFound, "GitLab sign-in is not set up", "This gateway has no GitLab OAuth application; sign in with a token.")
		return
	}
	state, verifier := secret(), secret()
	now := ui.cfg.Now()
	ui.store.mu.Lock()
	ui.store.sweep(now)
	ui.store.oauth[key(state)] = &oauthState{verifier: verifier, next: safeNext(r.URL.Query().Get("next")), expires: now.Add(oauthTTL)}
	ui.store.mu.Unlock()
	// The state also goes in a cookie, so the callback only completes in the browser that
	// started the flow. Lax: GitLab's redirect back is a cross-site top-level GET.
	ui.setCookie(w, ui.oauthCookie(), state, oauthTTL, http.SameSiteLaxMode)
	sum := sha256.Sum256([]byte(verifier))
	scopes := oc.Scopes
	if len(scopes) == 0 {
		scopes = []string{"read_user"}
	}
	q := url.Values{
		"client_id":             {oc.ClientID},
		"redirect_uri":          {ui.redirectURI()},
		"response_type":         {"code"},
		"state":                 {state},
		"scope":                 {strings.Join(scopes, " ")},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	http.Redirect(w, r, oc.endpoint("/oauth/authorize?"+q.Encode()), http.StatusSeeOther)
}

func (ui *UI) handleOAuthCallback(w http.ResponseWriter, r *http.Request) {
	oc := ui.cfg.OAuth
	if oc == nil {
		ui.message(w, r, http.StatusNotFound, "GitLab sign-in is not set up", "This gateway has no GitLab OAuth application.")
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	c, err := r.Cookie(ui.oauthCookie())
	ui.setCookie(w, ui.oauthCookie(), "", -1, http.SameSiteLaxMode)
	now := ui.cfg.Now()
	ui.store.mu.Lock()
	st, ok := ui.store.oauth[key(state)]
	delete(ui.store.oauth, key(state))
	ui.store.mu.Unlock()
	if err != nil || !equal(c.Value, state) || !ok || !now.Before(st.expires) {
		ui.signInRefused(w, r, http.StatusBadRequest, "GitLab sign-in did not complete",
			"The sign-in started in another browser or took too long. Start again.")
		return
	}
	if e := q.Get("error"); e != "" {
		ui.signInRefused(w, r, http.StatusUnauthorized, "GitLab sign-in was declined", "GitLab said: "+e+".")
		return
	}
	token, err := ui.exchange(r.Context(), oc, q.Get("code"), st.verifier)
	if err != nil {
		ui.log.Error("webui: oauth token exchange", "err", err)
		ui.signInRefused(w, r, http.StatusBadGateway, "GitLab sign-in failed", "The gateway could not complete sign-in with GitLab. Try again.")
		return
	}
	u, err := ui.b.UserFromToken(r.Context(), token)
	if err != nil {
		ui.log.Warn("webui: oauth user refused", "err", err)
		ui.signInRefused(w, r, http.StatusUnauthorized, "GitLab sign-in failed", "GitLab's token was not accepted by the gateway.")
		return
	}
	ui.startSession(w, r, u)
	http.Redirect(w, r, ui.path(st.next), http.StatusSeeOther)
}

// exchange trades an authorization code for an access token; the token is used once, to
// learn who signed in, and is not kept.
func (ui *UI) exchange(ctx context.Context, oc *OAuthConfig, code, verifier string) (string, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {ui.redirectURI()},
		"client_id":     {oc.ClientID},
		"code_verifier": {verifier},
	}
	if oc.ClientSecret != "" {
		form.Set("client_secret", oc.ClientSecret)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, oc.endpoint("/oauth/token"), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := ui.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("post /oauth/token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("read /oauth/token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return "", fmt.Errorf("post /oauth/token: %s %s", resp.Status, e.Error)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return "", errors.New("post /oauth/token: no access_token in the response")
	}
	return t.AccessToken, nil
}
