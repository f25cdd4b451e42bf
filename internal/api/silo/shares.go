package silo

// shareRoutes lists the endpoints for share links.
func (a *API) shareRoutes() []route {
	return nil
}
