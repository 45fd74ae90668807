package platform

// DefaultTeam owns the apps created without a team, and those created
// before teams existed.
const DefaultTeam = "default"

// TeamName is the team that owns the app.
func (a *App) TeamName() string {
	if a.Team == "" {
		return DefaultTeam
	}
	return a.Team
}

// AppTeam returns the team that owns an app: what the authorization layer
// checks before any operation on the app.
func (e *Engine) AppTeam(name string) (string, error) {
	if err := ValidateAppName(name); err != nil {
		return "", notFound("app %q not found", truncate(name, 80))
	}
	return e.store.appTeam(name)
}

// TeamHasApps reports whether any app belongs to team.
func (e *Engine) TeamHasApps(team string) (bool, error) {
	apps, err := e.store.ListApps()
	if err != nil {
		return false, err
	}
	for _, a := range apps {
		if a.TeamName() == team {
			return true, nil
		}
	}
	return false, nil
}

// EnvKeys lists an app's env keys with masked values.
func (e *Engine) EnvKeys(name string) (map[string]string, error) {
	a, err := e.store.GetApp(name)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(a.Env))
	for k := range a.Env {
		out[k] = MaskedValue
	}
	return out, nil
}

// RevealEnv returns one env value in clear. Only an authorized, audited
// request reaches it.
func (e *Engine) RevealEnv(name, key string) (string, error) {
	a, err := e.store.GetApp(name)
	if err != nil {
		return "", err
	}
	v, ok := a.Env[key]
	if !ok {
		return "", notFound("app %q has no env variable %q", name, truncate(key, 80))
	}
	return v, nil
}
