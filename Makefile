# Thin wrapper over build.sh / CMake for developers' habits.
.PHONY: all run test asan clean
all:
	./build.sh build
run:
	./build.sh run
test:
	./build.sh test
asan:
	./build.sh asan
clean:
	rm -rf build build-asan
