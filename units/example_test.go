package units_test

import (
	"fmt"

	"github.com/ehecoatl/ehecoatl/units"
)

func Example() {
	u := units.New("ehecoatl-acme-web@.service")
	u.Section("Unit").Add("Description", "Acme web, 100% handmade") // a literal '%'
	s := u.Section("Service")
	s.AddExec("ExecStart", []string{"/srv/shop/bin/shop", "--title", "Acme & Co", "--price=$5"})
	s.AddEnv("SHOP_MODE", "prod")
	s.AddEnv("GREETING", `say "hi"`)
	s.AddEnvSpecifier("EHECOATL_WORKER", "%i") // a specifier
	s.AddSpecifier("StateDirectory", "ehecoatl-acme-web-%i")
	s.AddList("ReadOnlyPaths", []string{"/srv/shop", "/srv/media"})
	b, err := u.Bytes()
	if err != nil {
		fmt.Println(err)
	}
	fmt.Print(string(b))
	// Output:
	// [Unit]
	// Description=Acme web, 100%% handmade
	//
	// [Service]
	// ExecStart=/srv/shop/bin/shop --title "Acme & Co" --price=$$5
	// Environment=SHOP_MODE=prod
	// Environment="GREETING=say \"hi\""
	// Environment=EHECOATL_WORKER=%i
	// StateDirectory=ehecoatl-acme-web-%i
	// ReadOnlyPaths=/srv/shop /srv/media
}

func ExampleUnit_Err() {
	u := units.New("ehecoatl-acme-web.service")
	s := u.Section("Service")
	s.AddExec("ExecStart", []string{"shop", "--mode", "prod"})
	s.AddEnv("MOTD", "line one\nExecStartPre=/bin/evil")
	fmt.Println(u.Err())
	_, err := u.Bytes()
	fmt.Println(err == nil)
	// Output:
	// units: ehecoatl-acme-web.service: [Service] ExecStart: argv[0] "shop" is not an absolute path
	// false
}
