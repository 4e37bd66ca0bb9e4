package init

import (
	"os"
	"path/filepath"
	"slices"
)

// Language is one built-in starter devfile: an image with the toolchain,
// the port a dev server usually listens on, and build/test/run commands.
// Images are pinned to a release line, so the template is the same bytes
// everywhere; change them here and in the golden test together.
type Language struct {
	Name   string   // the --language value
	Title  string   // for people
	Files  []string // any of these in the directory selects the language (globs allowed)
	Image  string
	Memory string
	Port   int // 0: no endpoint
	Build  string
	Test   string
	Run    string
}

// languages are checked in order; the first whose file exists wins.
var languages = []*Language{
	{Name: "go", Title: "Go", Files: []string{"go.mod"}, Image: "golang:1.24-bookworm", Memory: "2Gi", Port: 8080,
		Build: "go build ./...", Test: "go test ./...", Run: "go run ."},
	{Name: "node", Title: "Node.js", Files: []string{"package.json"}, Image: "node:22-bookworm", Memory: "2Gi", Port: 3000,
		Build: "npm install", Test: "npm test", Run: "npm start"},
	{Name: "python", Title: "Python", Files: []string{"pyproject.toml", "requirements.txt", "setup.py"}, Image: "python:3.12-bookworm", Memory: "2Gi", Port: 8000,
		Build: "if [ -f requirements.txt ]; then pip install -r requirements.txt; else pip install -e .; fi", Test: "python -m pytest"},
	{Name: "java-maven", Title: "Java (Maven)", Files: []string{"pom.xml"}, Image: "maven:3.9-eclipse-temurin-21", Memory: "4Gi", Port: 8080,
		Build: "mvn -B package -DskipTests", Test: "mvn -B test"},
	{Name: "java-gradle", Title: "Java (Gradle)", Files: []string{"build.gradle", "build.gradle.kts"}, Image: "gradle:8.10-jdk21", Memory: "4Gi", Port: 8080,
		Build: "gradle build -x test", Test: "gradle test"},
	{Name: "rust", Title: "Rust", Files: []string{"Cargo.toml"}, Image: "rust:1-bookworm", Memory: "4Gi", Port: 8080,
		Build: "cargo build", Test: "cargo test", Run: "cargo run"},
	{Name: "ruby", Title: "Ruby", Files: []string{"Gemfile"}, Image: "ruby:3.3-bookworm", Memory: "2Gi", Port: 3000,
		Build: "bundle install", Test: "bundle exec rake test"},
	{Name: "php", Title: "PHP", Files: []string{"composer.json"}, Image: "composer:2", Memory: "2Gi", Port: 8000,
		Build: "composer install", Test: "vendor/bin/phpunit", Run: "php -S 0.0.0.0:8000 -t public"},
	{Name: "dotnet", Title: ".NET", Files: []string{"*.csproj", "*.fsproj", "*.sln"}, Image: "mcr.microsoft.com/dotnet/sdk:8.0", Memory: "4Gi", Port: 5000,
		Build: "dotnet build", Test: "dotnet test", Run: "dotnet run"},
	{Name: "generic", Title: "general", Image: "buildpack-deps:bookworm", Memory: "2Gi"},
}

// detect returns the language of the project in dir and the file that
// showed it ("" for the generic template).
func detect(dir string) (*Language, string) {
	for _, l := range languages {
		for _, pat := range l.Files {
			matches, _ := filepath.Glob(filepath.Join(dir, pat))
			slices.Sort(matches)
			for _, m := range matches {
				if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
					return l, filepath.Base(m)
				}
			}
		}
	}
	return languageByName("generic"), ""
}

func languageByName(name string) *Language {
	for _, l := range languages {
		if l.Name == name {
			return l
		}
	}
	return nil
}

func languageNames() []string {
	var out []string
	for _, l := range languages {
		out = append(out, l.Name)
	}
	return out
}
