// Package console is the operator console: a single-page web app embedded
// in the binary and served by every node at GET /console. It works
// offline (no CDN, no outside URL: plain HTML, CSS and JavaScript written
// here) and calls only the public REST API, with the operator token the
// operator signs in with, kept in the tab's sessionStorage only.
//
// Files: console.go (the embedded files and their content types),
// static/index.html (the page), static/app.css, static/app.js (the app:
// sign-in, projects and key pairs, a project's assets, customers, wallets,
// entries and transactions, the cluster).
package console
