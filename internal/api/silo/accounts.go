package silo

// accountRoutes lists the endpoints for users, tokens, logins and the audit log.
func (a *API) accountRoutes() []route {
	return nil
}
