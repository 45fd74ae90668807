package detect

import (
	"fmt"
	"strconv"
)

// defaultJavaVersion is the JDK used when the build names none; javaLTS
// are the releases images are chosen among (a non-LTS release is built on
// the next LTS, which runs its bytecode).
const defaultJavaVersion = 21

var javaLTS = []int{8, 11, 17, 21, 25}

var (
	mavenJavaRes = []*lazyRegexp{
		lazyRE(`<java\.version>\s*(?:1\.)?([0-9]{1,2})\s*</java\.version>`),
		lazyRE(`<maven\.compiler\.release>\s*(?:1\.)?([0-9]{1,2})\s*</maven\.compiler\.release>`),
		lazyRE(`<release>\s*(?:1\.)?([0-9]{1,2})\s*</release>`),
		lazyRE(`<maven\.compiler\.source>\s*(?:1\.)?([0-9]{1,2})\s*</maven\.compiler\.source>`),
		lazyRE(`<maven\.compiler\.target>\s*(?:1\.)?([0-9]{1,2})\s*</maven\.compiler\.target>`),
	}
	gradleJavaRes = []*lazyRegexp{
		lazyRE(`JavaLanguageVersion\.of\(\s*([0-9]{1,2})\s*\)`),
		lazyRE(`jvmToolchain\(\s*([0-9]{1,2})\s*\)`),
		lazyRE(`JavaVersion\.VERSION_(?:1_)?([0-9]{1,2})\b`),
		lazyRE(`sourceCompatibility\s*=\s*['"]?(?:1\.)?([0-9]{1,2})\b`),
	}
	mavenModulesRe  = lazyRE(`<modules>`)
	gradleIncludeRe = lazyRE(`(?m)^\s*include\s*[ (]`)
)

// javaJar is the shell that copies the application jar to /out/app.jar,
// leaving out the sources, javadoc and plain jars Maven and Gradle also
// write; it fails the build when there is none.
func javaJar(dir string) string {
	return fmt.Sprintf(`mkdir -p /out && jar="$(find %s -maxdepth 1 -name '*.jar' ! -name '*-sources.jar' ! -name '*-javadoc.jar' ! -name '*-plain.jar' ! -name 'original-*' | sort | head -n 1)" && test -n "$jar" && cp "$jar" /out/app.jar`, dir)
}

// javaVersion finds the Java release the build targets and returns the LTS
// to build and run it on.
func (pl *planner) javaVersion(file, text string, res []*lazyRegexp) int {
	for _, re := range res {
		m := re.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		for _, lts := range javaLTS {
			if v <= lts {
				if v == lts {
					pl.reason("Java %d from %s", lts, file)
				} else {
					pl.reason("Java %d from %s: building and running on Java %d, the next LTS", v, file, lts)
				}
				return lts
			}
		}
		pl.reason("Java %d from %s is newer than the images known here: using Java %d", v, file, defaultJavaVersion)
		return defaultJavaVersion
	}
	pl.reason("no Java version in %s: using Java %d", file, defaultJavaVersion)
	return defaultJavaVersion
}

// planJava builds a jar with Maven or Gradle (their wrappers when the
// repository has them) and runs it on the Temurin JRE.
func planJava(pl *planner) error {
	maven := pl.src.isFile("pom.xml") && !pl.forced(StackJavaGradle)
	manifest := "pom.xml"
	if !maven {
		name, ok := pl.src.firstOf("build.gradle.kts", "build.gradle")
		if !ok {
			return pl.missing("pom.xml, build.gradle or build.gradle.kts")
		}
		manifest = name
	}
	if pl.forced(StackJavaMaven) && !maven {
		return pl.missing("pom.xml")
	}
	text, _, err := pl.src.read(manifest)
	if err != nil {
		return err
	}
	res := gradleJavaRes
	if maven {
		pl.stack(StackJavaMaven)
		pl.plan.PackageManager = "maven"
		res = mavenJavaRes
	} else {
		pl.stack(StackJavaGradle)
		pl.plan.PackageManager = "gradle"
	}
	pl.reason("found %s: Java, built with %s", manifest, pl.plan.PackageManager)
	version := pl.javaVersion(manifest, text, res)
	pl.plan.Version = strconv.Itoa(version)
	pl.layout = "the application jar, app.jar"
	argv, _, err := pl.start([]string{"/bin/sh", "-c", `exec java -XX:MaxRAMPercentage=75 -Dserver.port="${PORT:-8080}" -jar /app/app.jar`},
		"java -jar /app/app.jar (server.port from $PORT, for Spring Boot)")
	if err != nil {
		return err
	}
	port := pl.port(8080)
	pl.ignore("target", "build", ".gradle", "out", ".idea")

	df := &pl.df
	df.versionArg("JAVA_VERSION", strconv.Itoa(version))
	df.blank()
	if maven {
		wrapper := pl.src.isFile("mvnw") && pl.src.isDir(".mvn")
		mvn := "mvn"
		if wrapper {
			pl.reason("found the Maven wrapper: building with ./mvnw")
			df.linef("FROM eclipse-temurin:${JAVA_VERSION}-jdk AS build")
			mvn = "sh ./mvnw"
		} else {
			df.linef("FROM maven:3.9-eclipse-temurin-${JAVA_VERSION} AS build")
		}
		df.linef("WORKDIR /src")
		if mavenModulesRe.MatchString(text) {
			pl.reason("multi-module build: the whole tree is copied first; set a build command if the app's jar is not in target/")
			df.linef("COPY . .")
		} else {
			if wrapper {
				df.copyFiles([]string{"mvnw"}, "./")
				df.copyDir(".mvn")
			}
			df.copyFiles([]string{"pom.xml"}, "./")
			df.linef("RUN %s -B -ntp dependency:go-offline", mvn)
			df.linef("COPY . .")
		}
		pl.build(func() {
			df.linef("RUN %s -B -ntp -DskipTests package", mvn)
			df.linef("RUN %s", javaJar("target"))
		})
	} else {
		wrapper := pl.src.isFile("gradlew") && pl.src.isDir("gradle/wrapper")
		gradle := "gradle"
		if wrapper {
			pl.reason("found the Gradle wrapper: building with ./gradlew")
			df.linef("FROM eclipse-temurin:${JAVA_VERSION}-jdk AS build")
			gradle = "sh ./gradlew"
		} else {
			major := 8
			if version > 21 {
				major = 9 // Gradle 8 does not run on Java 25
			}
			df.linef("FROM gradle:%d-jdk${JAVA_VERSION} AS build", major)
		}
		df.linef("WORKDIR /src")
		settings, _ := pl.src.firstOf("settings.gradle.kts", "settings.gradle")
		settingsText, _ := pl.src.head(settings)
		if gradleIncludeRe.MatchString(settingsText) {
			pl.reason("multi-project build: the whole tree is copied first; set a build command if the app's jar is not in build/libs/")
			df.linef("COPY . .")
		} else {
			if wrapper {
				df.copyFiles([]string{"gradlew"}, "./")
				df.copyDir("gradle")
			}
			df.copyFiles(pl.src.existing(manifest, "settings.gradle.kts", "settings.gradle", "gradle.properties"), "./")
			df.linef("RUN %s --no-daemon dependencies", gradle)
			df.linef("COPY . .")
		}
		pl.build(func() {
			df.linef("RUN %s --no-daemon build -x test", gradle)
			df.linef("RUN %s", javaJar("build/libs"))
		})
	}
	df.blank()
	df.linef("FROM eclipse-temurin:${JAVA_VERSION}-jre")
	df.debianUser()
	df.linef("WORKDIR /app")
	df.linef("COPY --from=build /out /app")
	df.port(port)
	df.linef("USER %d", appUID)
	df.cmd(argv)
	return nil
}
