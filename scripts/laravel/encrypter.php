<?php
// Laravel's own Encrypter (Debian's php-illuminate-encryption), for scripts/laravel_interop.sh.
// usage: php encrypter.php MODE KEY   (input on stdin, output on stdout)
//   encrypt, decrypt: encryptString / decryptString (no serialization)
//   encrypt-value:    encrypt($input), which serializes the string first (s:N:"...";)
//   encrypt-array:    encrypt([$input]), a serialized array
//   encrypt-gcm:      encryptString with the aes-256-gcm cipher (the body carries a `tag`)
require '/usr/share/php/Illuminate/Encryption/autoload.php';

use Illuminate\Encryption\Encrypter;

[, $mode, $key] = $argv;
$encrypter = new Encrypter($key, $mode === 'encrypt-gcm' ? 'aes-256-gcm' : 'aes-256-cbc');
$input = stream_get_contents(STDIN);
switch ($mode) {
    case 'encrypt':
    case 'encrypt-gcm':
        echo $encrypter->encryptString($input);
        break;
    case 'encrypt-value':
        echo $encrypter->encrypt($input);
        break;
    case 'encrypt-array':
        echo $encrypter->encrypt([$input]);
        break;
    default:
        echo $encrypter->decryptString($input);
}
