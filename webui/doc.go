// Package webui serves the gateway's web pages: sign-in, the signed-in user's workspaces and a
// full-screen terminal per workspace (xterm.js over a WebSocket).
//
// The package knows nothing of agents or tunnels. The gateway passes a [Backend] to [New] and
// mounts the returned [UI] (an [net/http.Handler]) at the path of [Config.PublicURL]:
//
//	ui, err := webui.New(webui.Config{PublicURL: "https://ws.example.com"}, backend)
//	mux.Handle("/", ui) // or mux.Handle("/ui/", ui) with PublicURL "https://ws.example.com/ui"
//
// # Backend
//
//   - [Backend.UserFromToken] checks a GitLab token (a personal access token, or an OAuth
//     access token from the OAuth sign-in) and says whose it is; send it to GitLab as
//     "Authorization: Bearer", which accepts both kinds.
//   - [Backend.Workspaces] lists the workspaces the user may open.
//   - [Backend.OpenTerminal] starts a shell in a PTY in a workspace, or returns an error that
//     wraps [ErrForbidden], [ErrNotFound] or [ErrUnavailable] (the workspace is not running).
//     The page shows each as its own message; any other error shows as a generic failure, and
//     its text is not sent to the browser.
//
// # Routes (relative to the mount path)
//
//	GET  /                                 the workspace list (signs in first when needed)
//	GET  /signin, POST /signin             sign in with a GitLab token (CSRF-checked form)
//	GET  /signin/link/{token}              consume a link from [UI.MintLink]
//	GET  /signin/oauth, /oauth/callback    GitLab OAuth with PKCE, when [Config.OAuth] is set
//	POST /signout
//	GET  /sessions, POST /sessions/end     the user's sessions, and ending them (CSRF-checked)
//	GET  /terminal/{project}/-/{name}      the terminal page; see [TerminalPath]
//	GET  /terminal/{project}/-/{name}/tty  the terminal's WebSocket (Origin must match PublicURL)
//	GET  /assets/{file}                    the embedded, pre-built JS and CSS (webui/dist)
//
// None of these overlap the gateway's own routes (/healthz, /metrics, /login, /endpoint-auth,
// /api/v1/..., /w/...), so the gateway can register the UI as the fallback,
// mux.Handle("/", ui), and Go's ServeMux still sends its more specific patterns to the
// gateway. Cookies are named ws_web_* (__Host-ws_web_* with TLS) and built by [Cookie], which
// the gateway uses for its own endpoint cookies too.
//
// # Sessions
//
// A session keeps the credential it was made with (the pasted token, the token a link was
// minted with, or the OAuth token source) and checks it with [Backend.UserFromToken] every
// [Config.Recheck]: a token GitLab rejects ([ErrTokenRejected]) ends the session and closes
// its terminals. [UI.SessionOf] and [UI.Alive] let the embedding server use sessions;
// [UI.Sessions] and [UI.EndSession] list and end them. A user has at most
// [Config.MaxSessionsPerUser]. A sign-in continues only to paths [Config.NextAllowed] allows.
//
// # Terminal WebSocket protocol
//
// Binary messages carry terminal bytes both ways. Text messages are JSON control messages:
// the browser sends {"type":"resize","cols":C,"rows":R}; the server sends
// {"type":"exit","code":N} when the shell ends and {"type":"error","reason":R,"message":M}
// (R is "unavailable", "forbidden", "not_found" or "internal") when it cannot open one.
//
// Sessions and sign-in links live in memory: restarting the gateway signs everyone out.
// See docs/web.md.
package webui
