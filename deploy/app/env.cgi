#!/bin/sh
# env.cgi - a stand-in for the application behind tokend's authorizer.
#
# It prints, as plain text, one NAME=value line per variable it was given
# that tells who called: the TOKEN_* variables tokend's authorizer hands to
# the web server (TOKEN_CLIENT_ID, TOKEN_ID, TOKEN_SCOPE, TOKEN_AUDIENCE,
# TOKEN_EXPIRES_AT), REMOTE_USER (Apache sets it to the client id), and
# the request's method and path.  It never prints HTTP_AUTHORIZATION: the
# token itself is a secret.
#
# Install it as an executable file where the protected location's CGI
# scripts live (deploy/lighttpd/tokend-authorizer.conf,
# deploy/apache/tokend-authorizer.conf):  install -m 755 env.cgi DIR/app/
# If it runs, the request was authorized: the web server only starts it
# after tokend answered 200.
printf 'Content-Type: text/plain; charset=utf-8\r\n'
printf 'Cache-Control: no-store\r\n'
printf '\r\n'
env | grep -E '^(TOKEN_[A-Z_]*|REMOTE_USER|REQUEST_METHOD|REQUEST_URI)=' | LC_ALL=C sort
exit 0
