package detect

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// defaultDotnetVersion is the .NET line used when the project names none;
// dotnetMajors are the lines with images.
const defaultDotnetVersion = "8.0"

var dotnetMajors = []int{6, 7, 8, 9, 10}

// dotnetAppUID is the unprivileged app user of the .NET 8+ images (1654);
// a numeric USER needs no passwd entry on older ones.
const dotnetAppUID = 1654

var (
	targetFrameworkRe = lazyRE(`<TargetFrameworks?>([^<]{1,200})</TargetFrameworks?>`)
	netTFMRe          = lazyRE(`^net([0-9]{1,2})\.0`)
	assemblyNameRe    = lazyRE(`<AssemblyName>([^<]{1,200})</AssemblyName>`)
	webSDKRe          = lazyRE(`Sdk="Microsoft\.NET\.Sdk\.Web"`)
)

// dotnetProject picks the project to publish: the one *.csproj at the
// root, else the one web project (or the one project) one or two levels
// down.
func (pl *planner) dotnetProject() (string, error) {
	if root := pl.src.glob("*.csproj"); len(root) == 1 {
		return root[0], nil
	}
	all := append(append(pl.src.glob("*.csproj"), pl.src.glob("*/*.csproj")...), pl.src.glob("*/*/*.csproj")...)
	var webs []string
	for _, p := range all {
		if text, ok := pl.src.head(p); ok && webSDKRe.MatchString(text) {
			webs = append(webs, p)
		}
	}
	switch {
	case len(webs) == 1:
		return webs[0], nil
	case len(webs) > 1:
		return "", fmt.Errorf("several web projects (%s): set a build command that publishes to /out and a start command", strings.Join(webs, ", "))
	case len(all) == 1:
		return all[0], nil
	case len(all) > 1:
		return "", fmt.Errorf("several projects (%s) and no web project: set a build command that publishes to /out and a start command", strings.Join(all, ", "))
	}
	return "", fmt.Errorf("stack %s needs a *.csproj, which the repository does not have", StackDotnet)
}

// planDotnet publishes with the .NET SDK image and runs on the ASP.NET
// runtime image.
func planDotnet(pl *planner) error {
	project, err := pl.dotnetProject()
	if err != nil {
		return err
	}
	if !validRelPath(project) {
		return fmt.Errorf("stack dotnet: project path %s is not usable", printable(project))
	}
	text, _, err := pl.src.read(project)
	if err != nil {
		return err
	}
	pl.stack(StackDotnet)
	pl.plan.PackageManager = "nuget"
	pl.reason("found %s: .NET", project)
	if !webSDKRe.MatchString(text) {
		pl.reason("warning: %s does not use Microsoft.NET.Sdk.Web; it runs on the ASP.NET image all the same", project)
	}

	version := ""
	if m := targetFrameworkRe.FindStringSubmatch(text); m != nil {
		best := 0
		for _, tfm := range strings.Split(m[1], ";") {
			if mm := netTFMRe.FindStringSubmatch(strings.TrimSpace(tfm)); mm != nil {
				if n, _ := strconv.Atoi(mm[1]); slices.Contains(dotnetMajors, n) && n > best {
					best = n
				}
			}
		}
		if best > 0 {
			version = fmt.Sprintf("%d.0", best)
			pl.reason(".NET %s from the target framework %s", version, printable(strings.TrimSpace(m[1])))
		} else {
			pl.reason("ignoring the target framework %s: no .NET image for it; using .NET %s", printable(m[1]), defaultDotnetVersion)
		}
	} else {
		pl.reason("no target framework in %s: using .NET %s", project, defaultDotnetVersion)
	}
	if version == "" {
		version = defaultDotnetVersion
	}
	pl.plan.Version = version

	assembly := strings.TrimSuffix(path.Base(project), ".csproj")
	if m := assemblyNameRe.FindStringSubmatch(text); m != nil {
		if name := strings.TrimSpace(m[1]); validName(name) {
			assembly = name
		} else {
			pl.reason("ignoring the assembly name %s: not a usable file name", printable(m[1]))
		}
	}
	if !validName(assembly) {
		return fmt.Errorf("stack dotnet: assembly name %s is not usable; set a start command", printable(assembly))
	}
	pl.layout = "the dotnet publish output"
	argv, _, err := pl.start(
		[]string{"/bin/sh", "-c", fmt.Sprintf(`export ASPNETCORE_HTTP_PORTS="${PORT:-8080}" && exec dotnet /app/%s.dll`, assembly)},
		fmt.Sprintf("dotnet /app/%s.dll (ASPNETCORE_HTTP_PORTS from $PORT)", assembly))
	if err != nil {
		return err
	}
	port := pl.port(8080)
	pl.ignore("bin", "obj", "**/bin", "**/obj", ".vs")

	df := &pl.df
	df.versionArg("DOTNET_VERSION", version)
	df.blank()
	df.linef("FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build")
	df.linef("WORKDIR /src")
	if path.Dir(project) == "." {
		df.copyFiles(append([]string{project}, pl.src.existing("NuGet.config", "nuget.config", "global.json", "Directory.Build.props", "Directory.Packages.props")...), "./")
		df.linef("RUN dotnet restore %s", project)
		df.linef("COPY . .")
	} else {
		pl.reason("the project is below the root and may reference others: the whole tree is copied before restoring")
		df.linef("COPY . .")
		df.linef("RUN dotnet restore %s", project)
	}
	pl.build(func() {
		df.linef("RUN dotnet publish %s -c Release -o /out --no-restore", project)
	})
	df.blank()
	df.linef("FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION}")
	df.linef("WORKDIR /app")
	df.linef("COPY --from=build /out /app")
	df.port(port)
	df.linef("USER %d", dotnetAppUID)
	df.cmd(argv)
	return nil
}
