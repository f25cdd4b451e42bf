// Package authz holds Silo's cross-protocol authorization matrix test
// (matrix_test.go): one table of who may do what to a public and a
// private image, checked cell by cell through every protocol Silo serves,
// with the private image's names checked never to reach anyone who may
// not see it. The package has no code of its own: the rules live in
// internal/access and internal/registry; this is where they are held to
// what people were promised.
package authz
