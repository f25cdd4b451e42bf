package silo

// teamRoutes lists the endpoints for teams, collections' privacy and ownership, freezing and settings.
func (a *API) teamRoutes() []route {
	return nil
}
