package webui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
)

// dist holds the built front end (webui/frontend -> webui/dist, committed; see docs/web.md).
//
//go:embed dist
var dist embed.FS

//go:embed templates
var templateFS embed.FS

// versions maps an asset name to a hash of its content, for cache-busting URLs.
var versions = func() map[string]string {
	v := map[string]string{}
	entries, _ := fs.ReadDir(dist, "dist")
	for _, e := range entries {
		b, _ := dist.ReadFile("dist/" + e.Name())
		sum := sha256.Sum256(b)
		v[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return v
}()

func assetURL(name string) string { return "/assets/" + name + "?v=" + versions[name] }

func handleAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := dist.ReadFile("dist/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	if r.URL.Query().Get("v") == versions[name] {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", `"`+versions[name]+`"`)
	if r.Header.Get("If-None-Match") == `"`+versions[name]+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(b)
}

// pages are the templates, each parsed with the shared layout.
var pages = func() map[string]*template.Template {
	p := map[string]*template.Template{}
	for _, name := range []string{"list", "terminal", "signin", "message", "sessions"} {
		p[name] = template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return p
}()
