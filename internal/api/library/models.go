package library

import (
	"sort"
	"strconv"
	"time"

	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/registry"
)

// The JSON shapes below are the ones the library clients decode
// (client/models.go in both client libraries): string ids, RFC 3339 times
// with a zone, camelCase keys.

type baseModel struct {
	Deleted   bool      `json:"deleted"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Owner     string    `json:"owner,omitempty"`
}

type entityJSON struct {
	baseModel
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	Collections    []string `json:"collections"`
	Size           int64    `json:"size"`
	Quota          int64    `json:"quota"`
	DefaultPrivate bool     `json:"defaultPrivate"`
	CustomData     string   `json:"customData"`
}

type collectionJSON struct {
	baseModel
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Entity      string   `json:"entity"`
	Containers  []string `json:"containers"`
	Size        int64    `json:"size"`
	Private     bool     `json:"private"`
	CustomData  string   `json:"customData"`
	EntityName  string   `json:"entityName"`
}

type containerJSON struct {
	baseModel
	ID              string                       `json:"id"`
	Name            string                       `json:"name"`
	Description     string                       `json:"description"`
	FullDescription string                       `json:"fullDescription"`
	Collection      string                       `json:"collection"`
	Images          []string                     `json:"images"`
	ImageTags       map[string]string            `json:"imageTags"`
	ArchTags        map[string]map[string]string `json:"archTags"`
	Size            int64                        `json:"size"`
	DownloadCount   int64                        `json:"downloadCount"`
	Stars           int                          `json:"stars"`
	Private         bool                         `json:"private"`
	ReadOnly        bool                         `json:"readOnly"`
	CustomData      string                       `json:"customData"`
	Entity          string                       `json:"entity"`
	EntityName      string                       `json:"entityName"`
	CollectionName  string                       `json:"collectionName"`
}

type imageJSON struct {
	baseModel
	ID                   string   `json:"id"`
	Hash                 string   `json:"hash"`
	Description          string   `json:"description"`
	Container            string   `json:"container"`
	Size                 int64    `json:"size"`
	Uploaded             bool     `json:"uploaded"`
	Signed               *bool    `json:"signed"`
	Arch                 *string  `json:"arch"`
	Fingerprints         []string `json:"fingerprints"`
	Encrypted            *bool    `json:"encrypted"`
	CustomData           string   `json:"customData"`
	Entity               string   `json:"entity"`
	EntityName           string   `json:"entityName"`
	Collection           string   `json:"collection"`
	CollectionName       string   `json:"collectionName"`
	ContainerName        string   `json:"containerName"`
	Tags                 []string `json:"tags"`
	ContainerDescription string   `json:"containerDescription"`
	ContainerStars       int      `json:"containerStars"`
	ContainerDownloads   int64    `json:"containerDownloads"`
}

type searchJSON struct {
	Entity     []entityJSON     `json:"entity"`
	Collection []collectionJSON `json:"collection"`
	Container  []containerJSON  `json:"container"`
	Image      []imageJSON      `json:"image"`
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

func parseID(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

func toEntity(e *meta.Entity) entityJSON {
	return entityJSON{
		baseModel:      baseModel{CreatedAt: e.Created, UpdatedAt: e.Created},
		ID:             id(e.ID),
		Name:           e.Name,
		Description:    e.Description,
		Collections:    []string{},
		DefaultPrivate: e.DefaultPrivate,
	}
}

func toCollection(e *meta.Entity, c *meta.Collection) collectionJSON {
	return collectionJSON{
		baseModel:   baseModel{CreatedAt: c.Created, UpdatedAt: c.Updated},
		ID:          id(c.ID),
		Name:        c.Name,
		Description: c.Description,
		Entity:      id(e.ID),
		Containers:  []string{},
		Private:     c.Private,
		EntityName:  e.Name,
	}
}

func toContainer(v *registry.ContainerView, tags []meta.Tag) containerJSON {
	cj := containerJSON{
		baseModel:      baseModel{CreatedAt: v.Container.Created, UpdatedAt: v.Container.Updated},
		ID:             id(v.Container.ID),
		Name:           v.Container.Name,
		Description:    v.Container.Description,
		Collection:     id(v.Collection.ID),
		Images:         []string{},
		ImageTags:      map[string]string{},
		ArchTags:       map[string]map[string]string{},
		Private:        v.Collection.Private,
		ReadOnly:       v.Container.Frozen,
		Entity:         id(v.Entity.ID),
		EntityName:     v.Entity.Name,
		CollectionName: v.Collection.Name,
	}
	seen := map[int64]bool{}
	for _, t := range tags {
		if cj.ArchTags[t.Arch] == nil {
			cj.ArchTags[t.Arch] = map[string]string{}
		}
		cj.ArchTags[t.Arch][t.Name] = id(t.ImageID)
		// The arch-less map keeps amd64's target when several arches share a tag.
		if _, ok := cj.ImageTags[t.Name]; !ok || t.Arch == "amd64" {
			cj.ImageTags[t.Name] = id(t.ImageID)
		}
		if !seen[t.ImageID] {
			seen[t.ImageID] = true
			cj.Images = append(cj.Images, id(t.ImageID))
		}
	}
	return cj
}

func tagNames(tags []meta.Tag) []string {
	seen := map[string]bool{}
	names := []string{}
	for _, t := range tags {
		if !seen[t.Name] {
			seen[t.Name] = true
			names = append(names, t.Name)
		}
	}
	sort.Strings(names)
	return names
}

func toImage(iv *registry.ImageView) imageJSON {
	im := iv.Image
	j := imageJSON{
		baseModel:            baseModel{CreatedAt: im.Created, UpdatedAt: im.Updated},
		ID:                   id(im.ID),
		Hash:                 "sha256." + im.Digest,
		Description:          im.Description,
		Container:            id(iv.Container.ID),
		Size:                 im.Size,
		Uploaded:             im.Uploaded,
		Fingerprints:         []string{},
		Entity:               id(iv.Entity.ID),
		EntityName:           iv.Entity.Name,
		Collection:           id(iv.Collection.ID),
		CollectionName:       iv.Collection.Name,
		ContainerName:        iv.Container.Name,
		Tags:                 tagNames(iv.Tags),
		ContainerDescription: iv.Container.Description,
	}
	if im.Uploaded {
		signed, encrypted, arch := im.Signed, im.Encrypted, im.Arch
		j.Signed, j.Encrypted, j.Arch = &signed, &encrypted, &arch
	}
	return j
}

func recordToImage(r *meta.ImageRecord) imageJSON {
	iv := &registry.ImageView{
		ContainerView: registry.ContainerView{
			Entity:     &meta.Entity{ID: 0, Name: r.Entity},
			Collection: &meta.Collection{Name: r.Collection, Private: r.Private},
			Container:  &meta.Container{ID: r.ContainerID, Name: r.Container, Frozen: r.Frozen},
		},
		Image: &r.Image,
		Tags:  r.Tags,
	}
	j := toImage(iv)
	j.Entity, j.Collection = "", ""
	return j
}
