package oci_test

import (
	"testing"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/server/servertest"
)

func adminActor(t *testing.T, in *servertest.Instance) access.Actor {
	t.Helper()
	u, err := in.Server.Meta.UserByName(t.Context(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	return access.Actor{User: u}
}

func collectionID(t *testing.T, in *servertest.Instance, entity, name string) int64 {
	t.Helper()
	e, err := in.Server.Meta.EntityByName(t.Context(), entity)
	if err != nil {
		t.Fatal(err)
	}
	c, err := in.Server.Meta.CollectionByName(t.Context(), e.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}
