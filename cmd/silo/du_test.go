package main

import (
	"testing"

	"github.com/siloreg/silo/internal/sif/siftest"
)

func TestDu(t *testing.T) {
	c := newCLI(t)
	c.login("alice")
	has(t, "du of nothing", c.ok("du"), `(?m)^total: 0 images, 0 B stored \(0 B without deduplication; 0 B saved\)$`, `(?m)^COLLECTION\s+IMAGES\s+SIZE\s+STORED$`)

	c.sif("big.sif", siftest.Options{Seed: 1, Size: 2 << 20})
	c.sif("small.sif", siftest.Options{Seed: 2})
	c.ok("push", "big.sif", "alice/data/big:v1")
	c.ok("push", "big.sif", "alice/data/again:v1") // the same bytes: stored once
	c.ok("push", "small.sif", "alice/tools/small:v1")

	out := c.ok("du")
	has(t, "du", out,
		`(?m)^total: 3 images, 2\.1 MiB stored \(4\.1 MiB without deduplication; 2\.0 MiB saved\)$`,
		`(?m)^alice/data\s+2\s+4\.0 MiB\s+2\.0 MiB\nalice/tools\s+1\s+64 KiB\s+64 KiB$`)
	has(t, "du --sort name", c.ok("du", "--sort", "name", "--by", "container"),
		`(?m)^CONTAINER\s+IMAGES\s+SIZE\s+STORED\nalice/data/again\s+1\s+2\.0 MiB\s+2\.0 MiB\nalice/data/big\s+.*\nalice/tools/small\s+1\s+64 KiB\s+64 KiB$`)
	has(t, "du --by all", c.ok("du", "--by", "all"), `(?m)^USER\s+IMAGES\s+SIZE\s+STORED\nalice\s+3\s+4\.1 MiB\s+2\.1 MiB$`, `(?m)^TEAM\s+IMAGES\s+SIZE\s+STORED$`)
	c.fails([]string{"du", "--by", "entity"}, `--by "entity"`)
	c.fails([]string{"du", "--sort", "age"}, `--sort "age"`)
}
