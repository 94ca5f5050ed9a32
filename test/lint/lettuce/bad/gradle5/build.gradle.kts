plugins {
    kotlin("jvm") version "1.9.24"
}

dependencies {
    implementation("io.lettuce:lettuce-core:5.3.7.RELEASE")
}
