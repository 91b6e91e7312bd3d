<?php
// Laravel's own Encrypter (Debian's php-illuminate-encryption), for scripts/laravel_interop.sh.
// usage: php encrypter.php encrypt|decrypt KEY   (input on stdin, output on stdout)
require '/usr/share/php/Illuminate/Encryption/autoload.php';

use Illuminate\Encryption\Encrypter;

[, $mode, $key] = $argv;
$encrypter = new Encrypter($key, 'aes-256-cbc');
$input = stream_get_contents(STDIN);
echo $mode === 'encrypt' ? $encrypter->encryptString($input) : $encrypter->decryptString($input);
