package sif

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sylabs/sif/v2/pkg/sif"
)

func FuzzInspect(f *testing.F) {
	// Small images (capacity 8, tiny objects) keep the fuzzer's inputs a
	// few KiB so it mutates the header and descriptors, not padding.
	full := buildSIF(f,
		object(f, sif.DataDeffile, "Bootstrap: docker\nFrom: alpine\n"),
		object(f, sif.DataGenericJSON, `{"data":{"attributes":{"labels":{"a":"b"}}},"type":"container"}`,
			sif.OptObjectName(inspectMetadataName)),
		object(f, sif.DataLabels, `{"system-partition":{"c":"d"},"e":1}`),
		partition(f, sif.FsSquash, sif.PartPrimSys, "arm64"),
		object(f, sif.DataSignature, "sig", sif.OptNoGroup(), sif.OptLinkedID(4)),
	)
	f.Add(full)
	f.Add(buildSIF(f, partition(f, sif.FsEncryptedSquashfs, sif.PartPrimSys, "amd64")))
	f.Add(buildSIF(f))
	f.Add(full[:len(full)/2])
	f.Add(full[:headerSize])
	f.Add([]byte{})
	f.Add(append(make([]byte, 32), "SIF_MAGIC\x00"...))

	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Inspect(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			// An in-memory reader cannot fail, so every error is about the data.
			if !errors.Is(err, ErrNotSIF) {
				t.Fatalf("error does not wrap ErrNotSIF: %v", err)
			}
			if info != nil {
				t.Fatalf("Info returned with error")
			}
			return
		}
		if info.Labels == nil {
			t.Fatal("nil Labels")
		}
		if info.Partitions < 0 || (info.Encrypted && info.Partitions == 0) {
			t.Fatalf("inconsistent Info %+v", info)
		}
	})
}
