package silo

// The wire types of the API. They are exported so that internal/client
// decodes exactly what this package encodes: one definition, no drift
// between the server and the CLI.

// Info is GET /api/silo/v1/info: what a client needs to know before it
// can name things on this server.
type Info struct {
	Version string `json:"version"`
	// DefaultEntity is where two-part names (collection/container) live;
	// clients that must spell out three parts (the library push) use it.
	DefaultEntity string `json:"defaultEntity"`
	// DefaultCollection is where one-part names (container) live.
	DefaultCollection string `json:"defaultCollection"`
}

// Image is one row of an image listing: an uploaded image and the tags
// that point at it.
type Image struct {
	Name      string   `json:"name"` // entity/collection/container
	Tags      []string `json:"tags"` // sorted; empty (never null) for an untagged image
	Arch      string   `json:"arch"`
	Version   string   `json:"version"` // sha256.<hex>, the content digest
	Size      int64    `json:"size"`
	Created   string   `json:"created"` // RFC 3339, UTC: when it was pushed
	Downloads int64    `json:"downloads"`
	Signed    bool     `json:"signed"`
	Private   bool     `json:"private"`
}

// Totals summarise a listing. Bytes counts every row; StoredBytes counts
// each distinct digest once, because the store keeps identical bytes once
// whatever their names, so it is what the listed images cost on disk.
type Totals struct {
	Images      int   `json:"images"`
	Bytes       int64 `json:"bytes"`
	StoredBytes int64 `json:"storedBytes"`
}

// ImageList is GET /api/silo/v1/images.
type ImageList struct {
	Images []Image `json:"images"`
	Totals Totals  `json:"totals"`
}

// ErrorBody is every error answer: the same envelope the library API uses,
// so one decoder reads both.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}
